"""Settings: the description's names and defaults, parsing, and start-up errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from comfyui_gateway.config import (
    DEFAULT_COMFYUI_URL,
    Role,
    SettingsError,
    StorageProvider,
    comfyui_url_configured,
    load_settings,
)

DESCRIPTION_DEFAULTS = {
    "PORT": 3000,
    "COMFYUI_TIMEOUT_MS": 300000,
    "JWT_SECRET": "",
    "REDIS_URL": "",
    "DATABASE_URL": "./data/gateway.db",
    "STORAGE_LOCAL_PATH": Path("./data/outputs"),
    "S3_ENDPOINT": "",
    "S3_BUCKET": "",
    "S3_ACCESS_KEY": "",
    "S3_SECRET_KEY": "",
    "S3_REGION": "us-east-1",
    "WEBHOOK_SECRET": "",
    "MAX_CONCURRENCY": 1,
    "MAX_IMAGE_SIZE": 2048,
    "MAX_BATCH_SIZE": 4,
    "CACHE_ENABLED": True,
    "CACHE_TTL_SECONDS": 86400,
    "RATE_LIMIT_MAX": 100,
    "RATE_LIMIT_WINDOW_MS": 60000,
    "LOG_LEVEL": "info",
    "PRIVACY_MODE": False,
    "NODE_ENV": "development",
    "GRPC_PORT": 50051,
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Tests see only the variables they set, and no stray .env."""
    import os

    for name in list(os.environ):
        if name in DESCRIPTION_DEFAULTS or name in {
            "COMFYUI_URL",
            "API_KEYS",
            "STORAGE_PROVIDER",
            "WEBHOOK_ALLOWED_DOMAINS",
            "CORS_ORIGINS",
            "HOST",
        }:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_match_the_description() -> None:
    settings = load_settings(None)
    for name, value in DESCRIPTION_DEFAULTS.items():
        assert getattr(settings, name) == value, name
    assert settings.COMFYUI_URL == [DEFAULT_COMFYUI_URL]
    assert settings.API_KEYS == {}
    assert settings.STORAGE_PROVIDER is StorageProvider.LOCAL
    assert settings.WEBHOOK_ALLOWED_DOMAINS == ["*"]
    assert settings.CORS_ORIGINS == ["*"]
    assert not settings.auth_enabled


def test_lists_and_keys_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", "sk-admin:admin, sk-user:user")
    monkeypatch.setenv("COMFYUI_URL", "http://gpu1:8188/,http://gpu2:8188")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("WEBHOOK_ALLOWED_DOMAINS", "n8n.example.com,*.example.org")
    settings = load_settings(None)
    assert settings.API_KEYS == {"sk-admin": Role.ADMIN, "sk-user": Role.USER}
    assert settings.comfyui_urls == ["http://gpu1:8188", "http://gpu2:8188"]
    assert settings.CORS_ORIGINS == ["https://a.example", "https://b.example"]
    assert settings.WEBHOOK_ALLOWED_DOMAINS == ["n8n.example.com", "*.example.org"]
    assert settings.auth_enabled


def test_dotenv_is_read_and_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("PORT=4000\nMAX_BATCH_SIZE=2\n")
    monkeypatch.setenv("PORT", "5000")
    settings = load_settings(".env")
    assert settings.PORT == 5000
    assert settings.MAX_BATCH_SIZE == 2


def test_postgres_urls_are_recognised(monkeypatch: pytest.MonkeyPatch) -> None:
    for url in ("postgres://u:p@h:5432/db", "postgresql://u@h/db?sslmode=require"):
        monkeypatch.setenv("DATABASE_URL", url)
        assert load_settings(None).uses_postgres
    monkeypatch.setenv("DATABASE_URL", "/abs/gateway.db")
    assert not load_settings(None).uses_postgres


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("PORT", "abc", "PORT"),
        ("PORT", "70000", "PORT"),
        ("MAX_CONCURRENCY", "0", "MAX_CONCURRENCY"),
        ("CACHE_ENABLED", "maybe", "CACHE_ENABLED"),
        ("STORAGE_PROVIDER", "ftp", "STORAGE_PROVIDER"),
        ("COMFYUI_URL", "gpu1:8188", "COMFYUI_URL"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL"),
        ("API_KEYS", "just-a-key", "API_KEYS"),
        ("API_KEYS", "k:root", "API_KEYS"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=fragment):
        load_settings(None)


def test_secrets_are_not_echoed_in_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS", "super-secret-key:superuser")
    with pytest.raises(SettingsError) as raised:
        load_settings(None)
    assert "super-secret-key" not in str(raised.value)


def test_s3_needs_a_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORAGE_PROVIDER", "s3")
    with pytest.raises(SettingsError, match="S3_BUCKET"):
        load_settings(None)


def test_settings_are_frozen() -> None:
    settings = load_settings(None)
    with pytest.raises(Exception, match="frozen"):
        settings.PORT = 1  # type: ignore[misc]


def test_comfyui_url_configured_sees_env_and_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert not comfyui_url_configured(".env")
    (tmp_path / ".env").write_text("COMFYUI_URL=http://gpu:8188\n")
    assert comfyui_url_configured(".env")
    (tmp_path / ".env").write_text("COMFYUI_URL=\n")
    assert not comfyui_url_configured(".env")
    monkeypatch.setenv("COMFYUI_URL", "http://gpu:8188")
    assert comfyui_url_configured(".env")


@pytest.mark.parametrize(
    ("variables", "host"),
    [
        ({}, "127.0.0.1"),  # auth off: every caller is admin, so loopback only
        ({"HOST": ""}, "127.0.0.1"),
        ({"API_KEYS": "k1:admin"}, "0.0.0.0"),
        ({"JWT_SECRET": "s"}, "0.0.0.0"),
        ({"HOST": "0.0.0.0"}, "0.0.0.0"),  # chosen explicitly: kept, auth or not
        ({"HOST": "10.1.2.3", "API_KEYS": "k1:admin"}, "10.1.2.3"),
    ],
)
def test_rest_binds_loopback_unless_auth_is_on_or_host_is_set(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], host: str
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert host == load_settings(None).HOST
