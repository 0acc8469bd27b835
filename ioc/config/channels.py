"""The config tables of the notification channels: what each channel ``type`` takes in the site's ``channels``.

The channels themselves (``ioc/notify/channels/``) build on these tables; the tables live here, below the
notify package, because the site config (``ioc.config.models``) and the alert store (``ioc.store.alerts``, which
records the ``via`` of an acknowledgement) need them and must not import the channels (notify imports both). A
new channel adds its table here, in the ``ChannelConfigs`` union, and its class in ``ioc/notify/channels/``; the channel
registry refuses to start when the two lists differ.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal, get_args

from pydantic import Field, StringConstraints, model_validator

from ioc.config.base import (
    ConfigProblems,
    EmailAddress,
    EnvVarName,
    KeyPath,
    MessageKind,
    Slug,
    StrictModel,
    WebUrl,
    no_bare_number,
)


class ChannelConfig(StrictModel):
    """What every channel's config table has; each channel's own model narrows ``type`` to its name."""

    type: str = Field(title="channel type")
    id: Slug = Field(title="channel id")
    # How an acknowledgement through a channel of this type is recorded (alerts.acknowledged_via).
    via: ClassVar[str]


class EsmsShortCode(StrictModel):
    """Replies through an eSMS short-code keyword service: '<KEYWORD> OK <code>' texted to the short code."""

    type: Literal["esms_shortcode"] = Field(title="reply path type")
    service_number: Annotated[
        str, no_bare_number("e.g. '8079'"), StringConstraints(pattern=r"^\d{3,6}$")
    ] = Field(title="short code", description="the service number officers text, e.g. 8079")
    keyword: Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,10}$")] = Field(
        title="keyword", description="first word of the text, registered with eSMS (capitals)"
    )
    cpid_env: EnvVarName = Field(title="CPID variable", description="the CP id eSMS issued with the key")
    private_key_env: EnvVarName = Field(
        title="CP private key variable", description="signs the MO requests (sign = base64(md5(...)))"
    )


class SpeedSmsTwoWay(StrictModel):
    """Replies through a SpeedSMS two-way number: messages go out from it and officers answer it."""

    type: Literal["speedsms_two_way"] = Field(title="reply path type")
    number: Annotated[
        str, no_bare_number("e.g. '84901234567'"), StringConstraints(pattern=r"^84\d{9,10}$")
    ] = Field(title="two-way number", description="the number rented from SpeedSMS, 84...")


SmsReply = Annotated[EsmsShortCode | SpeedSmsTwoWay, Field(discriminator="type")]
SPEEDSMS_MAX_PER_S = 1.0  # 60 requests in 60 s, then HTTP 429 (speedsms.vn/sms-api)


class SmsHttpChannel(ChannelConfig):
    """Brandname SMS through a Vietnamese HTTP gateway."""

    type: Literal["sms_http"] = Field(title="channel type")
    via: ClassVar[str] = "sms"
    provider: Literal["esms", "speedsms"] = Field(title="gateway")
    brandname: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._ -]{2,11}$")] = Field(
        title="brandname", description="registered sender name, at most 11 characters"
    )
    base_url: WebUrl = Field(title="API base URL")
    api_key_env: EnvVarName = Field(title="API key variable")
    secret_key_env: EnvVarName | None = Field(
        default=None, title="secret key variable", description="eSMS needs one"
    )
    callback_secret_env: EnvVarName | None = Field(
        default=None,
        title="callback secret variable",
        description="keys the token in the callback URL's path; unset: the API key (or secret key)",
    )
    sandbox: bool = Field(default=False, title="sandbox", description="gateway accepts but does not deliver")
    allow_unicode: bool = Field(
        default=True,
        title="allow Vietnamese diacritics",
        description="UCS-2 costs 70 characters a segment; false sends unaccented GSM-7 text",
    )
    max_segments: int = Field(default=2, ge=1, le=8, title="maximum segments per message")
    rate_limit_per_s: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        title="request-rate limit (per second)",
        description="default: 1 for SpeedSMS (60 a minute), 5 for eSMS",
    )
    reply: SmsReply | None = Field(
        default=None,
        title="reply path",
        description="how officers can answer: an eSMS short-code keyword or a SpeedSMS two-way number; "
        "unset: messages carry the acknowledgement link only",
    )
    replay_window_s: int = Field(
        default=300, ge=30, le=3600, title="replay window (s)", description="older signed replies are refused"
    )

    @model_validator(mode="after")
    def _credentials(self) -> SmsHttpChannel:
        problems: list[tuple[tuple[str | int, ...], str]] = []
        if self.provider == "esms" and self.secret_key_env is None:
            problems.append(
                (
                    ("secret_key_env",),
                    f"channel {self.id}: eSMS needs an API key and a secret key; set secret_key_env",
                )
            )
        if self.reply is not None:
            wanted = {"esms": "esms_shortcode", "speedsms": "speedsms_two_way"}[self.provider]
            if self.reply.type != wanted:
                problems.append(
                    (
                        ("reply", "type"),
                        f"channel {self.id}: a {self.provider} channel's reply path is {wanted}",
                    )
                )
        if self.provider == "speedsms" and (self.rate_limit_per_s or 0) > SPEEDSMS_MAX_PER_S:
            problems.append(
                (
                    ("rate_limit_per_s",),
                    f"channel {self.id}: SpeedSMS allows 60 requests a minute; set rate_limit_per_s to "
                    "at most 1 or leave it out",
                )
            )
        if problems:
            raise ConfigProblems(problems)
        if self.rate_limit_per_s is None:
            object.__setattr__(
                self, "rate_limit_per_s", SPEEDSMS_MAX_PER_S if self.provider == "speedsms" else 5.0
            )
        return self


ZnsTemplateId = Annotated[str, no_bare_number("e.g. '248523'"), StringConstraints(pattern=r"^\d{3,12}$")]


ZnsValue = Literal["code", "title", "area", "severity", "time", "link"]


class ZnsParam(StrictModel):
    """One parameter a ZNS template declares: its name at Zalo, the value filling it, its maximum length."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,49}$")] = Field(
        title="parameter name", description="as registered with the template at Zalo"
    )
    value: ZnsValue = Field(title="value", description="code, title, area, severity, time or link")
    max_length: int = Field(
        ge=1, le=1000, title="maximum length", description="Zalo's limit for the parameter's type (e.g. 30)"
    )


class ZnsTemplate(StrictModel):
    """An approved ZNS template: its id and the parameters it declares (nothing else is sent)."""

    id: ZnsTemplateId = Field(title="template id")
    params: list[ZnsParam] = Field(min_length=1, max_length=20, title="declared parameters")

    @model_validator(mode="after")
    def _unique(self) -> ZnsTemplate:
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise ConfigProblems(
                [(("params",), f"template {self.id}: a parameter name appears twice; list each once")]
            )
        return self


class ZaloZnsChannel(ChannelConfig):
    """Zalo Notification Service: approved templates sent to a phone number from an Official Account."""

    type: Literal["zalo_zns"] = Field(title="channel type")
    via: ClassVar[str] = "zalo"
    oa_id: Annotated[
        str, no_bare_number("e.g. '1234567890123456789'"), StringConstraints(pattern=r"^\d{5,32}$")
    ] = Field(title="Official Account id")
    templates: dict[MessageKind, ZnsTemplateId | ZnsTemplate] = Field(
        min_length=1,
        title="templates",
        description="per message kind: the approved template id and its declared parameters with their "
        "maximum lengths (a bare id sends code, title, area, severity, time at 30 characters)",
    )
    app_id_env: EnvVarName = Field(title="app id variable")
    secret_key_env: EnvVarName = Field(title="app secret variable", description="for the OAuth token refresh")
    oa_secret_key_env: EnvVarName | None = Field(
        default=None,
        title="OA secret key variable",
        description="the OA secret key Zalo signs webhook events with (X-ZEvent-Signature); "
        "unset: the app secret is used, with a warning",
    )
    refresh_token_env: EnvVarName = Field(
        title="refresh token variable",
        description="first refresh token; rotated tokens are kept in the store",
    )
    api_base_url: WebUrl = Field(default="https://business.openapi.zalo.me", title="ZNS API base URL")
    oa_api_base_url: WebUrl = Field(
        default="https://openapi.zalo.me",
        title="OA API base URL",
        description="the Official Account's message API (v3.0/oa/message/cs): answers to citizens' reports",
    )
    oauth_base_url: WebUrl = Field(default="https://oauth.zaloapp.com", title="OAuth base URL")
    sandbox: bool = Field(
        default=False, title="development mode", description="send only to the OA's test users"
    )
    rate_limit_per_s: float = Field(default=20, gt=0, le=1000, title="request-rate limit (per second)")
    token_refresh_every_h: float = Field(
        default=24,
        ge=1,
        le=24 * 30,
        title="token refresh interval (h)",
        description="the refresh token is renewed at least this often, even when nothing is sent",
    )
    reply_via_oa: bool = Field(
        default=False,
        title="replies in the OA chat",
        description="officers follow the OA and may answer 'OK <code>' in its chat (webhook user_send_text)",
    )
    replay_window_s: int = Field(
        default=300, ge=30, le=3600, title="replay window (s)", description="older signed events are refused"
    )


Hostname = Annotated[
    str,
    StringConstraints(
        pattern=r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
        max_length=253,
    ),
    Field(description="host name or IPv4 address, e.g. mail.muongcha.gov.vn"),
]


class EmailSmtpChannel(ChannelConfig):
    """E-mail through an SMTP server (the province's mail service or an office relay)."""

    type: Literal["email_smtp"] = Field(title="channel type")
    via: ClassVar[str] = "email"
    host: Hostname = Field(title="SMTP server")
    port: int | None = Field(
        default=None, ge=1, le=65535, title="port", description="default: 587 for starttls, 465 for ssl, 25 for none"
    )
    security: Literal["starttls", "ssl", "none"] = Field(
        default="starttls",
        title="connection security",
        description="starttls (port 587), ssl (implicit TLS, port 465) or none (an office relay, no login)",
    )
    username_env: EnvVarName | None = Field(default=None, title="login name variable")
    password_env: EnvVarName | None = Field(default=None, title="password variable")
    ca_file: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = Field(
        default=None,
        title="CA certificates file",
        description="PEM file of the authority that signed the server's certificate; unset: the system's",
    )
    from_address: EmailAddress = Field(title="sender address", description="e.g. ioc@muongcha.gov.vn")
    from_name: Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)] = Field(
        default="IOC", title="sender name", description="shown beside the address, e.g. IOC Mường Chà"
    )
    timeout_s: float = Field(default=15, gt=0, le=120, title="timeout (s)", description="for each SMTP step")
    rate_limit_per_s: float = Field(
        default=5, gt=0, le=100, title="message-rate limit (per second)", description="the server's sending limit"
    )

    @model_validator(mode="after")
    def _login(self) -> EmailSmtpChannel:
        problems: list[tuple[KeyPath, str]] = []
        if (self.username_env is None) != (self.password_env is None):
            unset = "password_env" if self.password_env is None else "username_env"
            problems.append(((unset,), f"channel {self.id}: a login needs both username_env and password_env"))
        if self.security == "none" and self.username_env is not None:
            problems.append(
                (
                    ("security",),
                    f"channel {self.id}: a login over an unencrypted connection sends the password in clear; "
                    "set security to starttls or ssl",
                )
            )
        if problems:
            raise ConfigProblems(problems)
        return self


class WebhookChannel(ChannelConfig):
    """An HTTP POST of each notification, signed with a shared secret (HMAC-SHA256)."""

    type: Literal["webhook"] = Field(title="channel type")
    via: ClassVar[str] = "webhook"
    url: WebUrl = Field(title="URL")
    signing_secret_env: EnvVarName = Field(title="signing secret variable")
    timeout_s: float = Field(default=5, gt=0, le=60, title="timeout (s)")


# The site config's ``channels`` entry: one of the tables, chosen by its ``type``; listed in the order of their type
# names (the order of the old discovery, so the schema and pydantic's "expected tags" read as before).
ChannelConfigs = Annotated[
    EmailSmtpChannel | SmsHttpChannel | WebhookChannel | ZaloZnsChannel, Field(discriminator="type")
]
# Every channel type's table, taken from the union above so the two cannot differ.
CHANNEL_CONFIGS: tuple[type[ChannelConfig], ...] = get_args(get_args(ChannelConfigs)[0])
# How an acknowledgement through a channel is recorded in alerts.acknowledged_via.
CHANNEL_VIAS: tuple[str, ...] = tuple(sorted({c.via for c in CHANNEL_CONFIGS}))
