from backend.web.security import limiter_storage_uri


def test_unix_socket_urls_are_named_the_way_flask_limiter_reads_them() -> None:
    assert limiter_storage_uri("unix:///tmp/redis.sock") == "redis+unix:///tmp/redis.sock"
    assert limiter_storage_uri("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert limiter_storage_uri("") == "memory://"
