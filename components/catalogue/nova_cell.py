"""Nova's cell side (Kolla's `nova-cell` role) for the default cell: nova_conductor and nova_novncproxy on
the nova hosts; nova_ssh, nova_libvirt and nova_compute on every `compute` host.

Kolla's order: cell database, cell db sync (nova_cell_bootstrap), containers, then wait for the compute
services to register and map them to the cell (discover_hosts, run in the first nova_conductor). The
cell mapping itself is created by the nova service (`nova_cell_mappings`), before the scheduler's cell
cache refresh, so that the scheduler (started before this service) sees the cell.
"""

from __future__ import annotations

import uuid

from components.catalogue.model import (
    BootstrapJob,
    ConfigFile,
    Container,
    Context,
    ExecJob,
    Frontend,
    Healthcheck,
    Service,
)
from components.catalogue.openstack import api_healthcheck, database_job
from components.catalogue.volumes import config_volume, default_volumes

# Ansible's `to_uuid` filter: a UUID5 in Ansible's namespace (Kolla's compute_id and hostnqn).
_ANSIBLE_UUID_NAMESPACE = uuid.UUID("361E6D51-FAEC-444A-9079-341386DA8E2E")
COMPUTE_GROUP = "compute"


def to_uuid(name: str) -> str:
    return str(uuid.uuid5(_ANSIBLE_UUID_NAMESPACE, name))


def _libvirt_container(ctx: Context) -> bool:
    # Kolla's enable_nova_libvirt_container (group_vars): libvirt runs in a container for kvm and qemu.
    return ctx["nova_compute_virt_type"] in ("kvm", "qemu")


def _sasl(ctx: Context) -> bool:
    return bool(ctx["libvirt_enable_sasl"])


def _compute_service_hosts(ctx: Context) -> str:
    """The `host` each compute host's nova-compute registers as (its hostname; Kolla uses the nodename)."""
    return " ".join(ctx["hostvars"][h]["hostname"] for h in ctx["groups"][COMPUTE_GROUP])


def _nova_conf() -> ConfigFile:
    return ConfigFile(
        "nova-cell/nova.conf.j2",
        "/etc/nova/nova.conf",
        "nova",
        ini_overrides=(
            "global.conf",
            "nova.conf",
            "nova/{container_key}.conf",
            "nova/{host}/nova.conf",
            "nova/{host}/{container_key}.conf",
        ),
    )


_LOG_PERMISSIONS = {"path": "/var/log/kolla/nova", "owner": "nova:nova", "recurse": True}
_RUN = "/run:/run:shared"  # Kolla's `/run:/run{{ ':shared' if kolla_container_engine == 'docker' }}`

# Kolla's wait_discover_computes.yml and discover_computes.yml in one bounded loop (its 20 tries, 10 s
# apart): map the registered compute services to the cell until every compute host is mapped. Only
# nova-manage's non-verbose listings are read (their URLs hide passwords).
DISCOVER_HOSTS_SCRIPT = r"""set -eu -o pipefail
expected="{{ nova_compute_service_hosts }}"
cell=$(nova-manage cell_v2 list_cells | awk -F'|' 'NF >= 7 {
  n = $2; u = $3; gsub(/ /, "", n); gsub(/ /, "", u)
  if ((n == "" || n == "None") && u ~ /^[0-9a-f-]+$/ && u != "00000000-0000-0000-0000-000000000000") print u }')
if [ -z "$cell" ]; then
  echo "Unable to find settings for the default cell" >&2
  exit 1
fi
tries=0
while :; do
  nova-manage cell_v2 discover_hosts --by-service --cell_uuid "$cell"
  mapped=$(nova-manage cell_v2 list_hosts --cell_uuid "$cell" |
    awk -F'|' 'NF >= 5 { h = $4; gsub(/ /, "", h); print h }')
  missing=""
  for host in $expected; do
    printf '%s\n' "$mapped" | grep -qxF "$host" || missing="$missing $host"
  done
  if [ -z "$missing" ]; then
    echo "compute hosts mapped to cell $cell: $expected"
    exit 0
  fi
  tries=$((tries + 1))
  if [ "$tries" -ge 20 ]; then
    echo "The Nova compute service failed to register itself on the following hosts:$missing" >&2
    exit 1
  fi
  sleep 10
done
"""

# Not in Kolla: on each compute host, once its containers run, libvirt must be able to start guests of
# nova_compute_virt_type. nova-compute starts and registers either way; with kvm on a host without
# /dev/kvm it then fails every boot ("does not support virt type 'kvm'"). This says so at deploy time,
# naming the host, libvirt's own answer and the fix.
VIRT_TYPE_CHECK_SCRIPT = r"""set -u
virt_type="{{ nova_compute_virt_type }}"
# libvirtd may still be starting with its container.
for _ in $(seq 30); do virsh -c qemu:///system version >/dev/null 2>&1 && break; sleep 2; done
if answer=$(virsh -c qemu:///system domcapabilities --virttype "$virt_type" 2>&1 >/dev/null); then
  echo "libvirt on {{ inventory_hostname }} runs $virt_type guests"
  exit 0
fi
answer=$(printf '%s' "$answer" | sed -n 's/^error: //p' | tail -n 1)
echo "nova_compute_virt_type is $virt_type, but libvirt on {{ inventory_hostname }} cannot run $virt_type guests" \
  "(libvirt: $answer), so nova-compute there would fail to boot every server." >&2
if [ "$virt_type" = kvm ] && [ ! -e /dev/kvm ]; then
  echo "{{ inventory_hostname }} has no /dev/kvm (no hardware virtualisation, or the kvm module is not loaded):" \
    "set nova_compute_virt_type: qemu in the stack's globals, or enable virtualisation on the host." >&2
fi
exit 1
"""

SERVICE = Service(
    name="nova-cell",
    enable_flag="enable_nova",
    depends_on=("common", "mariadb", "memcached", "rabbitmq", "keystone", "placement", "nova"),
    local_depends_on=("openvswitch",),
    passwords=(
        "nova_database_password",
        "nova_api_database_password",
        "nova_keystone_password",
        "placement_keystone_password",
        "neutron_keystone_password",
        "metadata_secret",
        "rabbitmq_password",
        "nova_ssh_key",
        "libvirt_sasl_password",
    ),
    variables={
        "nova_cell_database_name": "nova",
        "nova_cell_database_user": "nova",
        "nova_cell_database_password": "{{ nova_database_password }}",
        "nova_cell_database_address": "{{ database_address }}",
        "nova_cell_database_port": "{{ database_port }}",
        "nova_cell_rpc_vhost": "{{ om_rpc_vhost }}",
        "nova_cell_rpc_transport_url": (
            "{{ om_rpc_transport }}://{% for host in groups['rabbitmq'] %}{{ rabbitmq_user }}:{{ rabbitmq_password }}"
            "@{{ 'api' | kolla_address(host) | put_address_in_context('url') }}:{{ om_rpc_port }}"
            "{% if not loop.last %},{% endif %}{% endfor %}/{{ nova_cell_rpc_vhost }}"
        ),
        "nova_cell_notify_transport_url": "{{ nova_cell_rpc_transport_url }}",
        "nova_cell_conductor_workers": "{{ openstack_service_workers }}",
        "nova_cell_conductor_has_api_database": True,
        "nova_console": "novnc",
        "nova_instance_datadir_volume": "nova_compute",
        "nova_libvirt_volume": "libvirtd",
        "nova_libvirt_port": "16509",
        "nova_ssh_port": "8022",
        "nova_libvirt_logging_debug": "{{ nova_logging_debug }}",
        # Kolla sets host-passthrough on aarch64 hosts only (a fact not gathered here).
        "nova_libvirt_cpu_mode": "",
        "migration_interface_address": "{{ api_interface_address }}",
        "libvirt_enable_sasl": True,
        "libvirt_sasl_authname": "nova",
        "libvirt_sasl_mech_list": ["DIGEST-MD5"],
        "libvirt_max_client_requests": 20,
        "libvirt_max_workers": 50,
        "qemu_max_files": 32768,
        "qemu_max_processes": 131072,
        # Kolla writes the hypervisor's existing id, or to_uuid(nodename) for a host never registered.
        "nova_compute_id": lambda c: to_uuid(c["hostname"]),
        "hostnqn": lambda c: f"nqn.2014-08.org.nvmexpress:uuid:{to_uuid(c['hostname'])}",
        "nova_compute_service_hosts": _compute_service_hosts,
    },
    named_volumes=("libvirtd", "nova_compute", "nova_libvirt_qemu"),
    containers=(
        Container(
            key="nova-conductor",
            container_name="nova_conductor",
            image="nova-conductor",
            group="nova-conductor",
            command="nova-conductor",
            volumes=default_volumes("nova-conductor", "/dev/shm:/dev/shm"),
            files=(_nova_conf(),),
            permissions=(_LOG_PERMISSIONS,),
            healthcheck=Healthcheck("healthcheck_port nova-conductor {{ om_rpc_port }}"),
        ),
        Container(
            key="nova-novncproxy",
            container_name="nova_novncproxy",
            image="nova-novncproxy",
            group="nova-novncproxy",
            command="nova-novncproxy",
            enabled=lambda c: c["nova_console"] == "novnc",
            volumes=default_volumes("nova-novncproxy", "/dev/shm:/dev/shm"),
            files=(_nova_conf(),),
            permissions=(_LOG_PERMISSIONS,),
            healthcheck=api_healthcheck("nova_novncproxy_listen_port", "/vnc_lite.html"),
            haproxy=(
                Frontend(
                    "nova_novncproxy",
                    "{{ nova_novncproxy_port }}",
                    "{{ nova_novncproxy_listen_port }}",
                    backend_extra=("timeout tunnel 1h",),
                ),
                Frontend(
                    "nova_novncproxy_external",
                    "{{ nova_novncproxy_public_port }}",
                    "{{ nova_novncproxy_listen_port }}",
                    external=True,
                    backend_extra=("timeout tunnel 1h",),
                ),
            ),
        ),
        Container(
            key="nova-ssh",
            container_name="nova_ssh",
            image="nova-ssh",
            group=COMPUTE_GROUP,
            command="/usr/sbin/sshd -D",
            enabled=lambda c: bool(c["enable_nova_ssh"]),
            volumes=(
                config_volume("nova-ssh"),
                "/etc/localtime:/etc/localtime:ro",
                "kolla_logs:/var/log/kolla",
                "{{ nova_instance_datadir_volume }}:/var/lib/nova",
            ),
            files=(
                ConfigFile("nova-cell/sshd_config.j2", "/etc/ssh/sshd_config", "root"),
                ConfigFile("nova-cell/ssh_config.j2", "/var/lib/nova/.ssh/config", "nova"),
                ConfigFile("nova-cell/id_rsa.j2", "/var/lib/nova/.ssh/id_rsa", "nova", source="id_rsa"),
                ConfigFile(
                    "nova-cell/id_rsa.pub.j2", "/var/lib/nova/.ssh/authorized_keys", "nova", source="id_rsa.pub"
                ),
            ),
            healthcheck=Healthcheck("healthcheck_listen sshd {{ nova_ssh_port }}"),
        ),
        Container(
            key="nova-libvirt",
            container_name="nova_libvirt",
            image="nova-libvirt",
            group=COMPUTE_GROUP,
            # Kolla creates the libvirt SASL user in a handler once libvirtd runs; here a start script creates
            # it from auth.conf before libvirtd starts (no job, no password in an argv, never a missing user).
            command=(
                "{{ '/usr/bin/nova-libvirt-startup.sh' if libvirt_enable_sasl | bool "
                "else '/usr/local/bin/kolla_nova_libvirt_start' }}"
            ),
            enabled=_libvirt_container,
            privileged=True,
            pid_mode="host",
            cgroupns_mode="host",
            volumes=(
                config_volume("nova-libvirt"),
                "/etc/localtime:/etc/localtime:ro",
                "/lib/modules:/lib/modules:ro",
                _RUN,
                "/dev:/dev",
                "/sys/fs/cgroup:/sys/fs/cgroup",
                "kolla_logs:/var/log/kolla/",
                "libvirtd:/var/lib/libvirt",
                "{{ nova_instance_datadir_volume }}:/var/lib/nova/",
                "nova_libvirt_qemu:/etc/libvirt/qemu",
            ),
            files=(
                ConfigFile("nova-cell/libvirtd.conf.j2", "/etc/libvirt/libvirtd.conf", "root"),
                ConfigFile("nova-cell/qemu.conf.j2", "/etc/libvirt/qemu.conf", "root"),
                ConfigFile("nova-cell/sasl.conf.j2", "/etc/sasl2/libvirt.conf", "root", when=_sasl),
                ConfigFile("nova-cell/auth.conf.j2", "/root/.config/libvirt/auth.conf", "root", when=_sasl),
                ConfigFile(
                    "nova-cell/nova-libvirt-startup.sh.j2",
                    "/usr/bin/nova-libvirt-startup.sh",
                    "root",
                    "0755",
                    when=_sasl,
                ),
            ),
            healthcheck=Healthcheck("virsh version --daemon"),
        ),
        Container(
            key="nova-compute",
            container_name="nova_compute",
            image="nova-compute",
            group=COMPUTE_GROUP,
            command="nova-compute",
            privileged=True,
            ipc_mode="host",
            environment={"LIBGUESTFS_BACKEND": "direct"},
            volumes=(
                config_volume("nova-compute"),
                "/etc/localtime:/etc/localtime:ro",
                "/lib/modules:/lib/modules:ro",
                _RUN,
                "/dev:/dev",
                "kolla_logs:/var/log/kolla/",
                "{{ nova_libvirt_volume }}:/var/lib/libvirt",
                "{{ nova_instance_datadir_volume }}:/var/lib/nova/",
            ),
            files=(
                _nova_conf(),
                ConfigFile("nova-cell/compute_id.j2", "/var/lib/nova/compute_id", "nova", source="compute_id"),
                ConfigFile("nova-cell/hostnqn.j2", "/etc/nvme/hostnqn", "root", "0644", source="hostnqn"),
                ConfigFile(
                    "nova-cell/auth.conf.j2",
                    "/var/lib/nova/.config/libvirt/auth.conf",
                    "nova",
                    when=lambda c: _libvirt_container(c) and _sasl(c),
                ),
            ),
            permissions=(_LOG_PERMISSIONS, {"path": "/var/lib/nova", "owner": "nova:nova", "recurse": True}),
            healthcheck=Healthcheck("healthcheck_port nova-compute {{ om_rpc_port }}"),
        ),
    ),
    jobs=(
        # Kolla's nova-cell bootstrap.yml, on the first conductor host.
        database_job("nova_cell", password_key="nova_database_password", login_host="{{ nova_cell_database_address }}"),
        # nova_cell_bootstrap: the conductor image's KOLLA_UPGRADE branch, db sync --local_cell (the cell).
        BootstrapJob(name="nova_cell_bootstrap", container_key="nova-conductor", environment={"KOLLA_UPGRADE": ""}),
        ExecJob(
            name="nova_libvirt_virt_type",
            container_key="nova-libvirt",
            all_hosts=True,  # wherever nova_libvirt runs: only for kvm and qemu, as Kolla places it
            script=VIRT_TYPE_CHECK_SCRIPT,
        ),
        ExecJob(
            name="nova_discover_hosts",
            container_key="nova-conductor",
            watch_groups=(COMPUTE_GROUP,),
            script=DISCOVER_HOSTS_SCRIPT,
        ),
    ),
)
