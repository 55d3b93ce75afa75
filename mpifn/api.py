"""Names of the MPIJob API and the labels the operator puts on its children."""

from typing import Final

GROUP: Final = "mpifn.dev"
VERSION: Final = "v1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "MPIJob"
PLURAL: Final = "mpijobs"
# A job's pods are read by a controller of their own (the explain controller), whose parents
# are these objects: one per job whose children say something is wrong (mpifn.explain).
EXPLANATION_KIND: Final = "MPIJobExplanation"
EXPLANATION_PLURAL: Final = "mpijobexplanations"

SEED_API_VERSION: Final = "skatelescope.org/v1"
KUBEFLOW_API_VERSION: Final = "kubeflow.org/v2beta1"

LABEL_JOB: Final = f"{GROUP}/job-name"
LABEL_ROLE: Final = f"{GROUP}/role"
ROLE_WORKER: Final = "worker"
ROLE_LAUNCHER: Final = "launcher"

# Kubeflow's labels on the pods of its MPIJobs (mpi-operator v0.8.0), which Kueue's MPIJob
# integration selects pods by; mpifn puts them on the pods of kubeflow.org jobs.
KUBEFLOW_LABEL_JOB: Final = "training.kubeflow.org/job-name"
KUBEFLOW_LABEL_OPERATOR: Final = "training.kubeflow.org/operator-name"
KUBEFLOW_LABEL_ROLE: Final = "training.kubeflow.org/job-role"
KUBEFLOW_OPERATOR_NAME: Final = "mpi-operator"
# The label by which Kueue's webhook and integrations find the LocalQueue a job is submitted to.
KUEUE_QUEUE_LABEL: Final = "kueue.x-k8s.io/queue-name"

MPI_DIR: Final = "/etc/mpi"
SSH_DIR: Final = f"{MPI_DIR}/ssh"
CONFIG_DIR: Final = f"{MPI_DIR}/config"
HOSTFILE: Final = f"{MPI_DIR}/hostfile"
SSH_CONFIG: Final = f"{CONFIG_DIR}/ssh_config"
SSH_WRAPPER: Final = f"{CONFIG_DIR}/ssh"

# The workers' sshd port unless the job says otherwise (spec.sshPort): also the default of
# the mpibase image (MPIFN_SSH_PORT, EXPOSE) and of its scripts, which a test holds to this.
DEFAULT_SSH_PORT: Final = 2222

# Where Metacontroller keeps what it last applied of a child (JSON in a string).
LAST_APPLIED_ANNOTATION: Final = "metacontroller.k8s.io/last-applied-configuration"
# The fingerprint of the pod template a launcher Job was made with: with server-side apply
# there is no last-applied copy, and this tells whether rendering it again gives it back.
LAUNCHER_TEMPLATE_ANNOTATION: Final = f"{GROUP}/launcher-template-sha256"
# The customize hook (the explain controller's) is served by the sync function under this
# path of its URL.
CUSTOMIZE_PATH: Final = "/customize"
