/* The thin client of `fastctr serve` (csrc/client.c). */
#ifndef FASTCTR_CLIENT_H
#define FASTCTR_CLIENT_H

/* fastctr_client's answer when the command should start cold, in this process. */
#define FASTCTR_CLIENT_COLD (-1)

/* Run the command through the server when one listens: its exit status, or
 * FASTCTR_CLIENT_COLD when there is none (or it is not to be used). */
int fastctr_client(int argc, char **argv);

#endif
