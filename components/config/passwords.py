"""Kolla's `passwords.yml`: the secret names, how kolla-genpwd generates each, and the checks.

Values live in the stack config as Pulumi secrets (`passwords.<name>`); the program reads them as
plain strings only to render files, and everything carrying them leaves as `Output.secret`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import string
import subprocess
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.config.errors import Problems, did_you_mean

UUID_KEYS = frozenset(
    [
        "rbd_secret_uuid",
        "cinder_rbd_secret_uuid",
        "gnocchi_project_id",
        "gnocchi_resource_id",
        "gnocchi_user_id",
        "designate_pool_id",
    ]
)
SSH_KEYS = frozenset(
    [
        "kolla_ssh_key",
        "nova_ssh_key",
        "keystone_ssh_key",
        "bifrost_ssh_key",
        "octavia_amp_ssh_key",
        "neutron_ssh_key",
        "haproxy_ssh_key",
    ]
)
BLANK_KEYS = frozenset({"docker_registry_password"})
HMAC_MD5_KEYS = frozenset({"designate_rndc_key", "osprofiler_secret"})
FERNET_KEYS = frozenset({"barbican_crypto_key"})
BCRYPT_KEYS = frozenset({"prometheus_bcrypt_salt"})

# Every key of kolla-ansible's etc/kolla/passwords.yml (2025.1); the rest are random 40-character strings.
ALL_KEYS: tuple[str, ...] = tuple(
    [
        "rbd_secret_uuid",
        "cinder_rbd_secret_uuid",
        "database_password",
        "mariadb_backup_database_password",
        "mariadb_monitor_password",
        "docker_registry_password",
        "vmware_dvs_host_password",
        "vmware_nsxv_password",
        "vmware_vcenter_host_password",
        "nsxv3_api_password",
        "vmware_nsxp_api_password",
        "vmware_nsxp_metadata_proxy_shared_secret",
        "hnas_nfs_password",
        "infoblox_admin_password",
        "aodh_database_password",
        "aodh_keystone_password",
        "barbican_database_password",
        "barbican_keystone_password",
        "barbican_p11_password",
        "barbican_crypto_key",
        "blazar_database_password",
        "blazar_keystone_password",
        "keystone_admin_password",
        "keystone_database_password",
        "grafana_database_password",
        "grafana_admin_password",
        "glance_database_password",
        "glance_keystone_password",
        "gnocchi_database_password",
        "gnocchi_keystone_password",
        "kuryr_keystone_password",
        "nova_database_password",
        "nova_api_database_password",
        "nova_keystone_password",
        "placement_keystone_password",
        "placement_database_password",
        "neutron_database_password",
        "neutron_keystone_password",
        "metadata_secret",
        "cinder_database_password",
        "cinder_keystone_password",
        "cloudkitty_database_password",
        "cloudkitty_keystone_password",
        "cyborg_database_password",
        "cyborg_keystone_password",
        "designate_database_password",
        "designate_keystone_password",
        "designate_pool_id",
        "designate_rndc_key",
        "heat_database_password",
        "heat_keystone_password",
        "heat_domain_admin_password",
        "ironic_database_password",
        "ironic_keystone_password",
        "ironic_inspector_database_password",
        "ironic_inspector_keystone_password",
        "magnum_database_password",
        "magnum_keystone_password",
        "mistral_database_password",
        "mistral_keystone_password",
        "trove_database_password",
        "trove_keystone_password",
        "ceilometer_database_password",
        "ceilometer_keystone_password",
        "watcher_database_password",
        "watcher_keystone_password",
        "horizon_secret_key",
        "horizon_database_password",
        "telemetry_secret_key",
        "manila_database_password",
        "manila_keystone_password",
        "octavia_database_password",
        "octavia_persistence_database_password",
        "octavia_keystone_password",
        "octavia_ca_password",
        "octavia_client_ca_password",
        "tacker_database_password",
        "tacker_keystone_password",
        "zun_database_password",
        "zun_keystone_password",
        "venus_database_password",
        "venus_keystone_password",
        "masakari_database_password",
        "masakari_keystone_password",
        "memcache_secret_key",
        "skyline_secret_key",
        "skyline_database_password",
        "skyline_keystone_password",
        "osprofiler_secret",
        "nova_ssh_key",
        "kolla_ssh_key",
        "keystone_ssh_key",
        "bifrost_ssh_key",
        "octavia_amp_ssh_key",
        "neutron_ssh_key",
        "haproxy_ssh_key",
        "gnocchi_project_id",
        "gnocchi_resource_id",
        "gnocchi_user_id",
        "rabbitmq_password",
        "rabbitmq_monitoring_password",
        "rabbitmq_cluster_cookie",
        "haproxy_password",
        "keepalived_password",
        "etcd_cluster_token",
        "redis_master_password",
        "valkey_master_password",
        "prometheus_mysql_exporter_database_password",
        "prometheus_alertmanager_password",
        "prometheus_password",
        "prometheus_grafana_password",
        "prometheus_haproxy_password",
        "prometheus_skyline_password",
        "prometheus_bcrypt_salt",
        "keystone_federation_openid_crypto_password",
        "ceph_rgw_keystone_password",
        "libvirt_sasl_password",
        "proxysql_admin_password",
        "proxysql_stats_password",
        "opensearch_dashboards_password",
    ]
)
PASSWORD_LENGTH = 40


@dataclass(frozen=True)
class Passwords:
    """Secret values by Kolla name; SSH keys are {private_key, public_key}. Never printed."""

    values: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __repr__(self) -> str:
        return f"Passwords({len(self.values)} keys, values hidden)"

    def all_strings(self) -> list[str]:
        """Every secret string, for tests and scans that prove none leaks."""
        out: list[str] = []
        for value in self.values.values():
            if isinstance(value, Mapping):
                out.extend(str(v) for v in value.values() if v)
            elif value:
                out.append(str(value))
        return out


def _random_password() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(PASSWORD_LENGTH))


def generate_ssh_keypair(bits: int = 4096) -> dict[str, str]:
    """An RSA key pair as kolla-genpwd makes (PEM private key, OpenSSH public key), via ssh-keygen."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "key"
        subprocess.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "rsa",
                "-b",
                str(bits),
                "-m",
                "PEM",
                "-N",
                "",
                "-C",
                "kolla",
                "-f",
                str(path),
            ],
            check=True,
            capture_output=True,
        )
        return {"private_key": path.read_text(), "public_key": path.with_suffix(".pub").read_text().strip()}


def generate_value(key: str) -> Any:
    """One new value of the kind kolla-genpwd generates for `key`."""
    if key in SSH_KEYS:
        return generate_ssh_keypair()
    if key in BLANK_KEYS:
        return None
    if key in UUID_KEYS:
        return str(uuid.uuid4())
    if key in HMAC_MD5_KEYS:
        return hmac.new(uuid.uuid4().bytes, b"", hashlib.md5).hexdigest()
    if key in FERNET_KEYS:
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    if key in BCRYPT_KEYS:
        alphabet = "./" + string.ascii_letters + string.digits
        return "".join(secrets.choice(alphabet) for _ in range(22))
    return _random_password()


def genpwd(existing: Mapping[str, Any] | None = None, keys: Iterable[str] = ALL_KEYS) -> dict[str, Any]:
    """A complete set: existing values kept, only missing or empty ones generated (kolla-genpwd's rule)."""
    out = dict(existing or {})
    for key in keys:
        current = out.get(key)
        if key in SSH_KEYS:
            if isinstance(current, Mapping) and current.get("private_key") and current.get("public_key"):
                continue
        elif key in BLANK_KEYS:
            out.setdefault(key, None)
            continue
        elif current not in (None, ""):
            continue
        out[key] = generate_value(key)
    return out


def resolve_passwords(raw: Any, required: Iterable[str]) -> Passwords:
    """Check that every secret the enabled services need is present and well formed."""
    problems = Problems()
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        problems.add("passwords", "<secret>", "a mapping of Kolla password names to secret values")
        problems.raise_if_any()
    for key in raw:
        if key not in ALL_KEYS:
            problems.note(f"passwords.{key}: unknown key{did_you_mean(str(key), ALL_KEYS)}")
    missing = []
    for key in sorted(set(required) | set(raw)):
        value = raw.get(key)
        if key in SSH_KEYS:
            complete = isinstance(value, Mapping) and value.get("private_key") and value.get("public_key")
            if not complete and (key in required or value not in (None, "")):
                missing.append(key)
        elif value in (None, ""):
            if key in required:
                missing.append(key)
        elif not isinstance(value, str):
            problems.add(f"passwords.{key}", "<secret>", "a string")
    if missing:
        problems.note(
            f"passwords: missing {', '.join(missing)}; generate every missing secret with "
            "`python -m components.genpwd --stack <stack>` (or set one with "
            "`pulumi config set --secret --path passwords.<name> <value>`)"
        )
    problems.raise_if_any()
    return Passwords(values=dict(raw))
