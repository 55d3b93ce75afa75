"""What each MPI implementation needs: its hostfile format and its launcher environment."""

from dataclasses import dataclass

from mpifn import api


@dataclass(frozen=True)
class Flavour:
    name: str
    slots_separator: str
    launcher_env: tuple[tuple[str, str], ...]

    def hostfile_line(self, host: str, slots: int) -> str:
        return f"{host}{self.slots_separator}{slots}"

    def hostfile(self, hosts: list[str], slots: int) -> str:
        tail = f"{self.slots_separator}{slots}\n"  # hostfile_line(host, slots) + newline, for thousands of hosts
        return "".join([host + tail for host in hosts])


_SSH_ARGS = f"-F {api.SSH_CONFIG}"
POD_INTERFACE = "eth0"

# OpenMPI 4 reads the ORTE names, OpenMPI 5 the PRTE ones and ignores the ORTE
# ones; a job that sets only one family silently runs every rank on one node
# under the other, so both are always set.
OPENMPI = Flavour(
    name="OpenMPI",
    slots_separator=" slots=",
    launcher_env=(
        ("OMPI_MCA_orte_default_hostfile", api.HOSTFILE),
        ("OMPI_MCA_orte_keep_fqdn_hostnames", "true"),
        ("OMPI_MCA_plm_rsh_args", _SSH_ARGS),
        ("PRTE_MCA_plm_ssh_args", _SSH_ARGS),
        ("PRTE_MCA_prte_default_hostfile", api.HOSTFILE),
        ("PRTE_MCA_prte_keep_fqdn_hostnames", "true"),
    ),
)
MPICH = Flavour(
    name="MPICH",
    slots_separator=":",
    launcher_env=(
        ("HYDRA_HOST_FILE", api.HOSTFILE),
        ("HYDRA_LAUNCHER", "ssh"),
        ("HYDRA_LAUNCHER_EXEC", api.SSH_WRAPPER),
        # Hydra's proxies on the workers call the launcher back by its hostname, which no
        # DNS record names; binding to the pod's interface makes them use its address.
        ("HYDRA_IFACE", POD_INTERFACE),
    ),
)
INTEL_MPI = Flavour(
    name="IntelMPI",
    slots_separator=":",
    launcher_env=(
        ("I_MPI_HYDRA_BOOTSTRAP", "ssh"),
        ("I_MPI_HYDRA_BOOTSTRAP_EXEC", api.SSH_WRAPPER),
        ("I_MPI_HYDRA_HOST_FILE", api.HOSTFILE),
        ("I_MPI_HYDRA_IFACE", POD_INTERFACE),
    ),
)

FLAVOURS = {flavour.name: flavour for flavour in (OPENMPI, MPICH, INTEL_MPI)}


def flavour(name: str) -> Flavour:
    return FLAVOURS[name]
