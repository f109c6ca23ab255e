#!/usr/bin/env bash
# Examples of launching bc-train with Open MPI (copy the line you need).
# Threads: ranks x threads_per_rank should equal the cores you give the job; one rank per socket with several
# threads, or one rank per core with one thread each, both work (`training.threads_per_rank` in the config).
cat <<'TXT'
# One node, 8 ranks, 1 thread each:
mpirun -n 8 --bind-to core .build/release/bc-train Launch/breakhis-resnet50.json --set training.threads_per_rank=1

# One node, 2 ranks x 4 threads (bind each rank to 4 cores):
mpirun -n 2 --map-by slot:PE=4 --bind-to core .build/release/bc-train Launch/breakhis-resnet50.json --set training.threads_per_rank=4

# Several nodes listed in a hostfile (lines like "node01 slots=8"):
mpirun -n 16 --hostfile hosts.txt --bind-to core .build/release/bc-train Launch/breakhis-resnet50.json

# Stop cleanly (checkpoint, exit 75): send SIGUSR1 to mpirun, which forwards it to every rank at once.
kill -USR1 <mpirun pid>
# Resume: run the same command again. Start over instead: add --no-resume.
TXT
