"""The Pod Security Standards "restricted" profile (Kubernetes v1.31 rules, which include
every "baseline" rule), checked on a pod spec the way pod-security-admission checks it.

`restricted_problems(pod_spec)` lists every violation with the field that causes it; an
empty list means the namespace label `pod-security.kubernetes.io/enforce: restricted`
admits the pod. Windows-only fields (hostProcess) are checked too.
"""

from typing import Any

JsonObject = dict[str, Any]

RESTRICTED_VOLUME_TYPES = frozenset(
    {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"}
)
ALLOWED_ADDED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"})
SECCOMP_TYPES = frozenset({"RuntimeDefault", "Localhost"})
APPARMOR_TYPES = frozenset({"RuntimeDefault", "Localhost"})


def _containers(spec: JsonObject) -> list[tuple[str, JsonObject]]:
    found = []
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for index, container in enumerate(spec.get(field) or []):
            found.append((f"spec.{field}[{index}]({container.get('name', '?')})", container))
    return found


def restricted_problems(spec: JsonObject, metadata: JsonObject | None = None) -> list[str]:
    """Every way the pod `spec` (with its template `metadata`) breaks the restricted profile."""
    problems: list[str] = []
    pod = spec.get("securityContext") or {}
    containers = _containers(spec)

    # baseline: host namespaces, host ports, hostPath, privileged, hostProcess
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            problems.append(f"spec.{field}: must be unset or false")
    if (pod.get("windowsOptions") or {}).get("hostProcess"):
        problems.append("spec.securityContext.windowsOptions.hostProcess: must be unset or false")
    for index, volume in enumerate(spec.get("volumes") or []):
        kinds = [key for key in volume if key != "name"]
        for kind in kinds:
            if kind not in RESTRICTED_VOLUME_TYPES:
                problems.append(f"spec.volumes[{index}]({volume.get('name')}): volume type {kind} is not allowed")
    for index, sysctl in enumerate(pod.get("sysctls") or []):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            problems.append(f"spec.securityContext.sysctls[{index}]: {sysctl.get('name')} is not a safe sysctl")
    problems += _selinux(pod.get("seLinuxOptions"), "spec.securityContext")
    problems += _apparmor(pod.get("appArmorProfile"), "spec.securityContext")
    for key, value in ((metadata or {}).get("annotations") or {}).items():
        if key.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
            value in ("runtime/default", "") or value.startswith("localhost/")
        ):
            problems.append(f"annotation {key}: {value} is not allowed")

    # restricted: pod-level defaults that containers may inherit
    pod_non_root = pod.get("runAsNonRoot") is True
    if pod.get("runAsNonRoot") is False:
        problems.append("spec.securityContext.runAsNonRoot: must not be false")
    if pod.get("runAsUser") == 0:
        problems.append("spec.securityContext.runAsUser: must not be 0")
    pod_seccomp = (pod.get("seccompProfile") or {}).get("type")
    if pod_seccomp is not None and pod_seccomp not in SECCOMP_TYPES:
        problems.append(
            f"spec.securityContext.seccompProfile.type: must be RuntimeDefault or Localhost, got {pod_seccomp}"
        )

    for where, container in containers:
        context = container.get("securityContext") or {}
        for index, port in enumerate(container.get("ports") or []):
            if port.get("hostPort"):
                problems.append(f"{where}.ports[{index}].hostPort: must be unset or 0")
        if context.get("privileged"):
            problems.append(f"{where}.securityContext.privileged: must be unset or false")
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            problems.append(f"{where}.securityContext.windowsOptions.hostProcess: must be unset or false")
        if context.get("procMount") not in (None, "Default"):
            problems.append(f"{where}.securityContext.procMount: must be unset or Default")
        problems += _selinux(context.get("seLinuxOptions"), f"{where}.securityContext")
        problems += _apparmor(context.get("appArmorProfile"), f"{where}.securityContext")
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}.securityContext.allowPrivilegeEscalation: must be false")
        non_root = context.get("runAsNonRoot")
        if non_root is False or (non_root is None and not pod_non_root):
            problems.append(f"{where}.securityContext.runAsNonRoot: must be true (here or on the pod)")
        if context.get("runAsUser") == 0:
            problems.append(f"{where}.securityContext.runAsUser: must not be 0")
        seccomp = (context.get("seccompProfile") or {}).get("type")
        if (seccomp is None and pod_seccomp is None) or (seccomp is not None and seccomp not in SECCOMP_TYPES):
            problems.append(f"{where}.securityContext.seccompProfile.type: must be RuntimeDefault or Localhost")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{where}.securityContext.capabilities.drop: must include ALL")
        added = set(capabilities.get("add") or []) - ALLOWED_ADDED_CAPABILITIES
        if added:
            problems.append(f"{where}.securityContext.capabilities.add: only NET_BIND_SERVICE, got {sorted(added)}")
    return sorted(problems)


def _selinux(options: JsonObject | None, where: str) -> list[str]:
    if not options:
        return []
    problems = []
    if options.get("type", "") not in SELINUX_TYPES:
        problems.append(f"{where}.seLinuxOptions.type: {options['type']} is not allowed")
    for field in ("user", "role"):
        if options.get(field):
            problems.append(f"{where}.seLinuxOptions.{field}: must be unset")
    return problems


def _apparmor(profile: JsonObject | None, where: str) -> list[str]:
    if profile and profile.get("type") not in APPARMOR_TYPES:
        return [f"{where}.appArmorProfile.type: must be RuntimeDefault or Localhost"]
    return []


def pod_templates_of(children: list[JsonObject]) -> dict[str, JsonObject]:
    """The pod template of every child that makes pods, keyed by kind/name."""
    return {
        f"{child['kind']}/{child['metadata']['name']}": child["spec"]["template"]
        for child in children
        if child["kind"] in ("StatefulSet", "Job", "Deployment", "DaemonSet", "ReplicaSet")
    }
