"""``optline token mint``: a visitor identity token for development and tests."""

from __future__ import annotations

import click

from backend.cli.context import command_deps


def register(cli: click.Group) -> None:
    @cli.group()
    def token() -> None:
        """Visitor identity tokens."""

    @token.command("mint")
    @click.argument("property_code", metavar="PROPERTY")
    @click.option("--sub", "external_id", required=True, help="The visitor's external id.")
    @click.option("--email", default=None)
    @click.option("--ttl", type=int, default=3600, show_default=True, help="Lifetime in seconds.")
    @click.option("--kid", default=None, help="Signing key id (default: the last HS256 key).")
    def mint(
        property_code: str, external_id: str, email: str | None, ttl: int, kid: str | None
    ) -> None:
        """Print a token signed with the property's HS256 secret."""
        from backend.services.visitor_tokens import mint_token

        click.echo(
            mint_token(command_deps(), property_code, external_id, email=email, ttl=ttl, kid=kid)
        )
