"""`fastctr serve`: a long-lived engine that the `fastctr` command hands its work to.

A cold `fastctr run` pays for an interpreter, ~50 imports and a store open
on every start.  The server pays once: it imports the command code, resolves
and compiles the default seccomp filter, and then waits on a Unix socket.
The `fastctr` launcher (csrc/client.c) connects, hands over argv, the
environment, the working directory and its stdin/stdout/stderr; the server
forks a worker that takes those as its own and runs the very same command
function as a cold start (so the two paths cannot drift), and the client
relays signals and exits with the worker's status.

    listener  the socket layer: Unix sockets (bound or socket-activated),
              peer credentials, one selector loop; it hosts protocols, so a
              second one (the Docker Engine API) can share the engine
    protocol  the wire format of the command protocol (csrc/client.c's twin)
    commands  the command protocol: requests, workers, signals, exit status
    worker    what a forked worker does before and after the command
    serve     warm-up, options, start and stop

Wing order: cli -> server -> engine.  The server does not import the CLI:
`fastctr serve` hands it the command function to run."""
