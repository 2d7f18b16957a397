"""SMTP transport security against real servers: STARTTLS with AUTH, implicit TLS, and the
configuration errors a wrong setup gives."""

from __future__ import annotations

import pytest
from email_support import add_customers, join_segment, sends
from smtp_recorder import SmtpServer, password_authenticator, self_signed, server_context

from crmhub.plugins.email.campaigns import send_campaign
from crmhub.plugins.email.smtp import SmtpRejected

PASSWORD = "s3cret-smtp-password"


@pytest.fixture
def certificate(tmp_path):
    return self_signed(tmp_path)


@pytest.fixture
def starttls_server(certificate):
    context = server_context(*certificate)
    with SmtpServer(tls_context=context, require_starttls=True, auth_required=True,
                    authenticator=password_authenticator("shop", PASSWORD)) as server:
        yield server


def test_starttls_with_auth_delivers(email_hub, starttls_server, certificate):
    hub = email_hub(server=starttls_server, security="starttls", tls_ca_file=str(certificate[0]),
                    username="shop", password=PASSWORD)
    join_segment(hub, "champions", add_customers(hub, 2))

    assert send_campaign(hub, "spring")["delivery"]["sent"] == 2
    assert starttls_server.handler.per_recipient() == {"c0@example.com": 1, "c1@example.com": 1}


def test_a_wrong_password_is_a_configuration_error_that_never_shows_the_password(email_hub, starttls_server, certificate):
    hub = email_hub(server=starttls_server, security="starttls", tls_ca_file=str(certificate[0]),
                    username="shop", password="wrong-password-123")
    join_segment(hub, "champions", add_customers(hub, 1))

    with pytest.raises(SmtpRejected, match="refused the login") as caught:
        send_campaign(hub, "spring")

    assert "wrong-password-123" not in str(caught.value) and caught.value.key == "plugins.email.main.username"
    assert [row.status for row in sends(hub)] == ["queued"]


def test_an_untrusted_certificate_is_refused(email_hub, starttls_server):
    hub = email_hub(server=starttls_server, security="starttls", username="shop", password=PASSWORD)
    join_segment(hub, "champions", add_customers(hub, 1))
    with pytest.raises(SmtpRejected, match="certificate not trusted"):
        send_campaign(hub, "spring")


def test_starttls_required_but_not_offered(email_hub, smtp_server):
    hub = email_hub(security="starttls")
    join_segment(hub, "champions", add_customers(hub, 1))
    with pytest.raises(SmtpRejected, match="does not offer STARTTLS"):
        send_campaign(hub, "spring")


def test_implicit_tls_delivers(email_hub, certificate):
    with SmtpServer(ssl_context=server_context(*certificate)) as server:
        hub = email_hub(server=server, security="tls", tls_ca_file=str(certificate[0]))
        join_segment(hub, "champions", add_customers(hub, 2))
        assert send_campaign(hub, "spring")["delivery"]["sent"] == 2
        assert len(server.handler.messages) == 2
