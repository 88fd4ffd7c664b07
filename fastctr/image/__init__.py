"""What an image is and where it lives: the SQLite store and its blobs
(store), OCI layers applied and diffed exactly (layers), the overlay2 and
vfs storage drivers (drivers), getting images in (loading: load, pull,
import) from archives and registries (registry), and temporary work that a
killed command cannot leak (tmpwork)."""
