"""Subscriptions through the settings page: translated texts and channels."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from backend.db.models import AuditEntry, Subscription, SubscriptionChannel
from backend.domain.errors import NotFoundError
from backend.services import configuration
from backend.services.deps import Deps
from tests.integration.admin_page.page_forms import (
    GROUP_EMAIL,
    GROUP_SMS,
    count_rows,
    create_connection,
    csrf_token,
    submit,
    subscription_form,
)

NEW = "/admin/subscriptions/new"
EDIT = "/admin/subscriptions/newsletter/"


@pytest.fixture
def with_connection(admin: FlaskClient) -> FlaskClient:
    create_connection(admin, sandbox="y")
    return admin


def create_subscription(client: FlaskClient, **overrides: str) -> None:
    response = submit(client, NEW, subscription_form(**overrides))
    assert response.status_code == 302, response.get_data(as_text=True)


def edit_form(**overrides: str) -> dict[str, str]:
    form = subscription_form(**overrides)
    del form["code"]
    return form


def test_create_subscription(with_connection: FlaskClient, deps: Deps) -> None:
    create_subscription(with_connection, position="3")
    stored = configuration.get_object(deps, "subscriptions", "newsletter")
    assert stored["name"] == {"en": "Newsletter", "es": "Boletín"}
    assert stored["description"] == {
        "en": "Product news once a month",
        "es": "Novedades una vez al mes",
    }
    assert stored["position"] == 3
    assert stored["channels"] == [
        {"channel": "email", "connection": "braze-main", "subscription_group_id": GROUP_EMAIL}
    ]
    assert count_rows(deps, SubscriptionChannel) == 1
    assert "Subscription newsletter created." in with_connection.get(EDIT).get_data(as_text=True)


def test_edit_form_shows_the_stored_texts_and_channels(with_connection: FlaskClient) -> None:
    create_subscription(with_connection)
    page = with_connection.get(EDIT).get_data(as_text=True)
    assert 'value="Boletín"' in page
    assert f'value="{GROUP_EMAIL}"' in page
    assert '<option selected value="braze-main">' in page


def test_edit_adds_a_channel_and_changes_a_text(with_connection: FlaskClient, deps: Deps) -> None:
    create_subscription(with_connection)
    form = edit_form(
        **{
            "texts-1-name": "Boletín mensual",
            "channels-1-channel": "sms",
            "channels-1-connection": "braze-main",
            "channels-1-subscription_group_id": GROUP_SMS,
        }
    )
    assert submit(with_connection, EDIT, form).status_code == 302
    stored = configuration.get_object(deps, "subscriptions", "newsletter")
    assert stored["name"]["es"] == "Boletín mensual"
    assert [c["channel"] for c in stored["channels"]] == ["email", "sms"]
    assert count_rows(deps, SubscriptionChannel) == 2


def test_removing_a_channel_replaces_the_list(with_connection: FlaskClient, deps: Deps) -> None:
    create_subscription(
        with_connection,
        **{
            "channels-1-channel": "sms",
            "channels-1-connection": "braze-main",
            "channels-1-subscription_group_id": GROUP_SMS,
        },
    )
    form = edit_form(
        **{
            "channels-1-channel": "sms",
            "channels-1-connection": "braze-main",
            "channels-1-subscription_group_id": GROUP_SMS,
            "channels-0-remove": "y",
        }
    )
    assert submit(with_connection, EDIT, form).status_code == 302
    stored = configuration.get_object(deps, "subscriptions", "newsletter")
    assert [c["channel"] for c in stored["channels"]] == ["sms"]
    assert count_rows(deps, SubscriptionChannel) == 1


def test_channel_error_sits_beside_the_row_it_came_from(
    with_connection: FlaskClient, deps: Deps
) -> None:
    """A blank first row is skipped, so channels[0] of the definition is the form's row 2."""
    response = submit(
        with_connection,
        NEW,
        subscription_form(
            **{
                "channels-0-channel": "",
                "channels-0-connection": "",
                "channels-0-subscription_group_id": "",
                "channels-1-channel": "sms",
                "channels-1-connection": "braze-main",
                "channels-1-subscription_group_id": "not-a-group",
            }
        ),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "channels[0].subscription_group_id: &#39;not-a-group&#39; is not a Braze" in page
    assert 'id="channels-1-subscription_group_id-error"' in page
    assert 'href="#channels-1-subscription_group_id"' in page
    assert count_rows(deps, Subscription) == 0
    assert count_rows(deps, AuditEntry) == 1  # only the connection's


def test_missing_english_name_is_reported(with_connection: FlaskClient, deps: Deps) -> None:
    response = submit(
        with_connection,
        NEW,
        subscription_form(
            **{
                "texts-0-language": "fr",
                "texts-0-name": "Lettre",
                "texts-0-description": "",
            }
        ),
    )
    assert response.status_code == 422
    assert "name: needs an English text" in response.get_data(as_text=True)
    assert count_rows(deps, Subscription) == 0


def test_text_without_a_language_is_a_form_error(with_connection: FlaskClient) -> None:
    response = submit(
        with_connection,
        NEW,
        subscription_form(
            **{
                "texts-2-name": "Nameless",
                "texts-2-language": "",
            }
        ),
    )
    assert response.status_code == 422
    assert "Say which language this text is in." in response.get_data(as_text=True)


def test_unknown_connection_is_reported(with_connection: FlaskClient, deps: Deps) -> None:
    form = subscription_form(**{"channels-0-connection": "braze-gone"})
    response = submit(with_connection, NEW, form)
    assert response.status_code == 422
    assert "channels[0].connection" in response.get_data(as_text=True)
    assert count_rows(deps, Subscription) == 0


def test_add_more_rows_saves_nothing(with_connection: FlaskClient, deps: Deps) -> None:
    response = submit(with_connection, NEW, {**subscription_form(), "more_rows": "1"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'name="channels-3-channel"' in page
    assert 'value="Boletín"' in page
    assert count_rows(deps, Subscription) == 0


def test_connection_in_use_cannot_be_deleted(with_connection: FlaskClient, deps: Deps) -> None:
    create_subscription(with_connection)
    url = "/admin/braze-connections/braze-main/delete"
    token = csrf_token(with_connection.get(url).get_data(as_text=True))
    response = with_connection.post(url, data={"csrf_token": token})
    assert response.status_code == 409
    assert "still used by subscription newsletter" in response.get_data(as_text=True)
    assert configuration.get_object(deps, "braze_connections", "braze-main")


def test_delete_subscription(with_connection: FlaskClient, deps: Deps) -> None:
    create_subscription(with_connection)
    url = "/admin/subscriptions/newsletter/delete"
    token = csrf_token(with_connection.get(url).get_data(as_text=True))
    assert with_connection.post(url, data={"csrf_token": token}).status_code == 302
    with pytest.raises(NotFoundError):
        configuration.get_object(deps, "subscriptions", "newsletter")
    assert count_rows(deps, SubscriptionChannel) == 0
