/* /hello of fastctr's built-in hello-world image: a static program, so the
 * image needs nothing else and `fastctr run hello-world` works offline. */
#include <unistd.h>

static const char message[] =
    "\n"
    "Hello from fastctr!\n"
    "This message shows that your installation appears to be working correctly.\n"
    "\n"
    "To generate this message, fastctr took these steps:\n"
    " 1. It found the built-in \"hello-world\" image (made from a static program\n"
    "    at install time) in its image store, or made it there.\n"
    " 2. It joined the image's layers into a root filesystem with a writable layer.\n"
    " 3. It created a container from it: new namespaces, a cgroup of its own,\n"
    "    pivot_root into the image, then ran this program as PID 1.\n"
    " 4. It streamed this output to your terminal.\n"
    "\n";

int main(void)
{
    const char *p = message;
    size_t left = sizeof message - 1;
    while (left) {
        ssize_t n = write(1, p, left);
        if (n <= 0)
            return 1;
        p += n;
        left -= (size_t)n;
    }
    return 0;
}
