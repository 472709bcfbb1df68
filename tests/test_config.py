import os
import stat

import pytest

from app import create_app
from app.config import ConfigError
from app.resources import receipt_pepper


def make(instance_path, monkeypatch, surface="public", test_config=None, **env):
    monkeypatch.setenv("PORTAL_INSTANCE_PATH", str(instance_path))
    for name, value in env.items():
        monkeypatch.setenv(f"PORTAL_{name}", value)
    return create_app(surface, test_config)


def test_defaults_generate_separate_secret_keys_once(tmp_path, monkeypatch):
    public = make(tmp_path, monkeypatch, "public")
    console = make(tmp_path, monkeypatch, "console")
    assert len(public.secret_key) >= 32
    assert public.secret_key != console.secret_key
    key_file = tmp_path / "secrets" / "public.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    # A restart keeps the same keys, so sessions survive it.
    assert make(tmp_path, monkeypatch, "public").secret_key == public.secret_key
    assert public.config["DATABASE_URL"] == f"sqlite:///{tmp_path / 'portal.sqlite3'}"
    assert public.config["RATELIMIT_STORAGE_URI"] == "memory://"


def test_the_receipt_pepper_is_made_once_and_shared_by_both_apps(tmp_path, monkeypatch):
    public = make(tmp_path, monkeypatch, "public")
    console = make(tmp_path, monkeypatch, "console")
    pepper_file = tmp_path / "secrets" / "receipt.pepper"
    assert stat.S_IMODE(os.stat(pepper_file).st_mode) == 0o600
    pepper = public.config["RECEIPT_PEPPER"]
    assert len(pepper) >= 32 and pepper == console.config["RECEIPT_PEPPER"]
    assert pepper not in (public.secret_key, console.secret_key)
    assert make(tmp_path, monkeypatch, "public").config["RECEIPT_PEPPER"] == pepper


def test_views_and_commands_read_the_pepper_the_configuration_chose(tmp_path, monkeypatch):
    made = make(tmp_path / "made", monkeypatch, "public")
    with made.app_context():
        pepper_file = tmp_path / "made" / "secrets" / "receipt.pepper"
        assert receipt_pepper() == pepper_file.read_text().strip().encode()
    given = "胡椒-" + "p" * 40
    chosen = make(tmp_path / "given", monkeypatch, "console", RECEIPT_PEPPER=given)
    with chosen.app_context():
        assert receipt_pepper() == given.encode()
    assert not (tmp_path / "given" / "secrets" / "receipt.pepper").exists()


def test_file_then_environment_then_test_config(tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text(
        'workers = 7\nthreads = 3\nconsole_allow = ["10.1.0.0/16"]\n'
    )
    app = make(tmp_path, monkeypatch, "console", WORKERS="9")
    assert app.config["WORKERS"] == 9  # environment beats the file
    assert app.config["THREADS"] == 3  # the file beats the default
    assert [str(n) for n in app.config["CONSOLE_ALLOW"]] == ["10.1.0.0/16"]
    app = make(tmp_path, monkeypatch, "console", test_config={"WORKERS": 4})
    assert app.config["WORKERS"] == 4


def test_environment_values_are_parsed(tmp_path, monkeypatch):
    app = make(
        tmp_path,
        monkeypatch,
        HTTPS="1",
        CONSOLE_ALLOW="10.0.0.0/8, 192.168.1.7",
        DATABASE_URL="postgresql://portal@db.example/portal",
        RATELIMIT_STORAGE_URI="redis://cache:6379/2",
    )
    assert app.config["HTTPS"] is True
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert [str(n) for n in app.config["CONSOLE_ALLOW"]] == ["10.0.0.0/8", "192.168.1.7/32"]
    assert app.config["DATABASE_URL"].startswith("postgresql+psycopg://portal@db.example/")
    assert app.config["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/2"


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"PUBLIC_SECRET_KEY": "too-short"}, "PORTAL_PUBLIC_SECRET_KEY: must be at least 32"),
        ({"DATABASE_URL": "mysql://root@localhost/x"}, "unknown scheme 'mysql'"),
        ({"DATABASE_URL": "not a url"}, "is not a database URL"),
        ({"RATELIMIT_STORAGE_URI": "memcached://x"}, "PORTAL_RATELIMIT_STORAGE_URI"),
        ({"CONSOLE_ALLOW": "10.0.0.0/33"}, "PORTAL_CONSOLE_ALLOW: '10.0.0.0/33'"),
        ({"TRUSTED_PROXIES": "proxy.local"}, "PORTAL_TRUSTED_PROXIES"),
        ({"HTTPS": "perhaps"}, "PORTAL_HTTPS: must be 1 or 0"),
        ({"WORKERS": "0"}, "PORTAL_WORKERS: must be a positive whole number"),
        ({"PUBLIC_BIND": "8000"}, "PORTAL_PUBLIC_BIND: must be host:port"),
        ({"LOG_VKEY": "portal.example.internal/disclosures+00+AA=="}, "PORTAL_LOG_VKEY"),
        ({"RECEIPT_PEPPER": "短的胡椒"}, "PORTAL_RECEIPT_PEPPER: must be at least 32"),
        ({"REPORT_MAX_FILES": "0"}, "PORTAL_REPORT_MAX_FILES: must be a positive whole number"),
        ({"REPORT_MAX_BYTES": "9" * 30}, "PORTAL_REPORT_MAX_BYTES"),
        ({"REPORT_NOSCRIPT_WAIT_MINUTES": "61"}, "PORTAL_REPORT_NOSCRIPT_WAIT_MINUTES"),
        ({"REPORT_NOSCRIPT_WAIT_MINUTES": "两分钟"}, "PORTAL_REPORT_NOSCRIPT_WAIT_MINUTES"),
        ({"RATELIMIT_IPV6_PREFIX": "8"}, "PORTAL_RATELIMIT_IPV6_PREFIX"),
        ({"RATELIMIT_REPORTS_ALL": "300 per hour"}, "PORTAL_RATELIMIT_REPORTS_ALL: no longer"),
        (
            {"RATELIMIT_REPORTS_NOSCRIPT_ALL": "30 per hour"},
            "PORTAL_RATELIMIT_REPORTS_NOSCRIPT_ALL: no longer",
        ),
    ],
)
def test_bad_values_are_refused_with_a_clear_message(tmp_path, monkeypatch, env, fragment):
    with pytest.raises(ConfigError) as excinfo:
        make(tmp_path, monkeypatch, **env)
    assert any(fragment in problem for problem in excinfo.value.problems), excinfo.value.problems


def test_every_problem_is_reported_at_once(tmp_path, monkeypatch):
    with pytest.raises(ConfigError) as excinfo:
        make(tmp_path, monkeypatch, HTTPS="x", WORKERS="-1", DATABASE_URL="oracle://x")
    assert len(excinfo.value.problems) == 3


def test_same_secret_for_both_apps_is_refused(tmp_path, monkeypatch):
    key = "k" * 40
    with pytest.raises(ConfigError, match="must differ"):
        make(tmp_path, monkeypatch, PUBLIC_SECRET_KEY=key, CONSOLE_SECRET_KEY=key)


def test_broken_config_file_is_reported(tmp_path, monkeypatch):
    (tmp_path / "config.toml").write_text("workers = = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        make(tmp_path, monkeypatch)


def test_unknown_surface_is_refused(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="surface"):
        make(tmp_path, monkeypatch, "admin")


def test_one_worker_by_default_unless_limits_are_shared_in_redis(tmp_path, monkeypatch):
    # Several workers would each count rate limits apart in memory.
    assert make(tmp_path, monkeypatch).config["WORKERS"] == 1
    redis = make(tmp_path, monkeypatch, RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0")
    assert redis.config["WORKERS"] == 2
    assert make(tmp_path, monkeypatch, WORKERS="3").config["WORKERS"] == 3


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"SMTP_HOST": "mail.jiwei.example.cn"}, "PORTAL_SMTP_FROM: set the address"),
        (
            {"SMTP_HOST": "mail.jiwei.example.cn", "SMTP_FROM": "纪委 <digest@jiwei.cn>"},
            "PORTAL_SMTP_FROM: '纪委 <digest@jiwei.cn>' is not an e-mail address",
        ),
        (
            {"SMTP_HOST": "mail.jiwei.example.cn", "SMTP_FROM": "d@jiwei.cn", "SMTP_STARTTLS": "0"},
            "PORTAL_SMTP_STARTTLS: may be turned off only for a mail relay on this machine",
        ),
        (
            {"SMTP_HOST": "mail.jiwei.example.cn", "SMTP_FROM": "d@jiwei.cn", "SMTP_USERNAME": "d"},
            "PORTAL_SMTP_USERNAME and PORTAL_SMTP_PASSWORD: give both or neither",
        ),
        ({"SMTP_HOST": "mail server", "SMTP_FROM": "d@jiwei.cn"}, "PORTAL_SMTP_HOST"),
        ({"SMTP_PORT": "70000"}, "PORTAL_SMTP_PORT: must be a whole number from 1 to 65535"),
        ({"SMTP_TIMEOUT": "0"}, "PORTAL_SMTP_TIMEOUT: must be seconds above 0"),
        ({"SMTP_TIMEOUT": "永远"}, "PORTAL_SMTP_TIMEOUT"),
        ({"SMTP_STARTTLS": "maybe"}, "PORTAL_SMTP_STARTTLS: must be 1 or 0"),
        (
            {
                "SMTP_CA_FILE": "/nonexistent/ca.pem",
                "SMTP_HOST": "localhost",
                "SMTP_FROM": "d@x.cn",
            },
            "PORTAL_SMTP_CA_FILE: no such file",
        ),
        ({"DIGEST_HOUR": "24"}, "PORTAL_DIGEST_HOUR: must be a whole number from 0 to 23"),
        ({"CONSOLE_URL": "console.jiwei.cn"}, "PORTAL_CONSOLE_URL: must be an http(s) URL"),
    ],
)
def test_bad_digest_and_mail_settings_stop_the_start_with_a_clear_line(
    tmp_path, monkeypatch, env, fragment
):
    with pytest.raises(ConfigError) as excinfo:
        make(tmp_path, monkeypatch, "console", **env)
    assert any(fragment in problem for problem in excinfo.value.problems), excinfo.value.problems


def test_mail_settings_default_to_no_server_and_starttls_when_one_is_set(tmp_path, monkeypatch):
    from app.resources import digest_settings

    app = make(tmp_path, monkeypatch, "console")
    with app.app_context():
        assert not digest_settings().mail.configured
        assert digest_settings().hour == 7
    app = make(
        tmp_path,
        monkeypatch,
        "console",
        SMTP_HOST="mail.jiwei.example.cn",
        SMTP_PORT="2525",
        SMTP_FROM="digest@jiwei.example.cn",
        CONSOLE_URL="https://console.jiwei.example.cn/",
        DIGEST_HOUR="8",
    )
    with app.app_context():
        settings = digest_settings()
    assert settings.mail.configured and settings.mail.starttls and settings.mail.port == 2525
    assert settings.console_url == "https://console.jiwei.example.cn" and settings.hour == 8


@pytest.mark.parametrize("years", ["0", "101", "1000", "-1", str(2**64), "五年", "²", "5.5", ""])
def test_a_retention_period_outside_1_to_100_years_stops_the_start(tmp_path, monkeypatch, years):
    with pytest.raises(ConfigError) as excinfo:
        make(tmp_path, monkeypatch, "console", RETENTION_YEARS=years)
    problem = "PORTAL_RETENTION_YEARS: must be a whole number from 1 to 100"
    assert any(problem in line for line in excinfo.value.problems), excinfo.value.problems


def test_the_retention_period_is_five_years_unless_set(tmp_path, monkeypatch):
    assert make(tmp_path, monkeypatch, "console").config["RETENTION_YEARS"] == 5
    assert (
        make(tmp_path, monkeypatch, "console", RETENTION_YEARS="12").config["RETENTION_YEARS"] == 12
    )
