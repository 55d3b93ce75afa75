/*
 * hello_mpi: proves where each rank ran and that the ranks talk to each other.
 *
 * Every rank prints one line
 *   RANK <rank> OF <size> ON <hostname> NS <uts-hostname> PID <pid>
 * (MPI_Get_processor_name and gethostname; the tests give every worker its
 * own UTS namespace and host name), then the ranks sum (rank + 1) with
 * MPI_Allreduce and rank 0 prints
 *   SUM <sum> EXPECTED <size*(size+1)/2>
 * Exit status is non-zero when the sum is wrong.
 */
#include <mpi.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int rank = 0, size = 0, len = 0;
    char name[MPI_MAX_PROCESSOR_NAME] = {0};
    char host[256] = {0};
    long value, sum = 0, expected;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Get_processor_name(name, &len);
    if (gethostname(host, sizeof host - 1) != 0) {
        snprintf(host, sizeof host, "unknown");
    }
    printf("RANK %d OF %d ON %s NS %s PID %ld\n", rank, size, name, host, (long)getpid());
    fflush(stdout);

    value = rank + 1;
    MPI_Allreduce(&value, &sum, 1, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
    expected = (long)size * (size + 1) / 2;
    if (rank == 0) {
        printf("SUM %ld EXPECTED %ld\n", sum, expected);
        fflush(stdout);
    }
    MPI_Finalize();
    return sum == expected ? 0 : 3;
}
