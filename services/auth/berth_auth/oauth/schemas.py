"""Form parameters and JSON bodies of the OAuth 2.0 endpoints (RFC 6749, 7009, 7662, 8414)."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# RFC 6749 §3.1: unknown parameters MUST be ignored, so forms drop extras instead of failing.
_FORM = ConfigDict(extra="ignore", frozen=True)

Scope = Annotated[str, StringConstraints(max_length=1000, pattern=r"^[\x21\x23-\x5b\x5d-\x7e ]*$")]
OpaqueToken = Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class PasswordGrantForm(BaseModel):
    model_config = _FORM

    username: Annotated[str, StringConstraints(min_length=1, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    scope: Scope | None = None


class RefreshGrantForm(BaseModel):
    model_config = _FORM

    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    scope: Scope | None = None


class ClientCredentialsForm(BaseModel):
    model_config = _FORM

    scope: Scope | None = None


class TokenHintForm(BaseModel):
    """The body of /oauth/revoke and /oauth/introspect."""

    model_config = _FORM

    token: OpaqueToken
    token_type_hint: Annotated[str, StringConstraints(max_length=64)] | None = None


class TokenRequestDoc(BaseModel):
    """All /oauth/token parameters, for the OpenAPI document only (each grant uses a subset)."""

    grant_type: Literal["password", "refresh_token", "client_credentials"]
    client_id: str | None = Field(None, description="public clients, or client_secret_post")
    client_secret: str | None = Field(None, description="client_secret_post")
    username: str | None = Field(None, description="password grant: the email")
    password: str | None = Field(None, description="password grant")
    refresh_token: str | None = Field(None, description="refresh_token grant")
    scope: str | None = Field(None, description="space-separated scopes")


class TokenHintDoc(BaseModel):
    token: str
    token_type_hint: Literal["access_token", "refresh_token"] | None = None
    client_id: str | None = None
    client_secret: str | None = None


def form_body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that reads an application/x-www-form-urlencoded body itself."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/x-www-form-urlencoded": {"schema": model.model_json_schema()}},
        }
    }


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
    scope: str
    refresh_token: str | None = None


class OAuthErrorBody(BaseModel):
    error: str
    error_description: str | None = None


class IntrospectionResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    active: bool
    scope: str | None = None
    client_id: str | None = None
    sub: str | None = None
    exp: int | None = None
    iat: int | None = None
    iss: str | None = None
    aud: str | None = None
    token_type: str | None = None
    jti: str | None = None
    roles: list[str] | None = None
    sid: str | None = None


class JWKSResponse(BaseModel):
    keys: list[dict[str, Any]]


class ServerMetadata(BaseModel):
    """RFC 8414 authorization server metadata."""

    issuer: str
    token_endpoint: str
    jwks_uri: str
    revocation_endpoint: str
    introspection_endpoint: str
    grant_types_supported: list[str]
    response_types_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    introspection_endpoint_auth_methods_supported: list[str]
    scopes_supported: list[str]
    service_documentation: str | None = None
