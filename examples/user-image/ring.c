/* A token goes once around all ranks; every rank says where it ran.
 * Rank 0 prints one line per rank and how many distinct hosts took part, so the
 * launcher's log shows that the ranks really ran on several workers. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    int rank, size, token = 0;
    char host[MPI_MAX_PROCESSOR_NAME] = {0};
    int host_length;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Get_processor_name(host, &host_length);

    if (size > 1) {
        int next = (rank + 1) % size, previous = (rank + size - 1) % size;
        if (rank == 0) {
            MPI_Send(&token, 1, MPI_INT, next, 0, MPI_COMM_WORLD);
            MPI_Recv(&token, 1, MPI_INT, previous, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            MPI_Recv(&token, 1, MPI_INT, previous, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            token += 1;
            MPI_Send(&token, 1, MPI_INT, next, 0, MPI_COMM_WORLD);
        }
    }

    char hosts[size][MPI_MAX_PROCESSOR_NAME];
    MPI_Gather(host, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, hosts, MPI_MAX_PROCESSOR_NAME, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (rank == 0) {
        int distinct = 0;
        for (int r = 0; r < size; r++) {
            int seen = 0;
            for (int earlier = 0; earlier < r; earlier++) {
                seen |= strcmp(hosts[r], hosts[earlier]) == 0;
            }
            distinct += !seen;
            printf("rank %d of %d on %s\n", r, size, hosts[r]);
        }
        printf("token passed %d times; %d ranks on %d hosts\n", token, size, distinct);
    }
    MPI_Finalize();
    /* Only rank 0 holds the token once it went all the way round. */
    return rank != 0 || token == size - 1 ? 0 : 1;
}
