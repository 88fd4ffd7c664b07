"""What the engine does with images and the file systems of containers:
export, commit, rmi and the removal of an image's unused layers.

Mixed into fastctr.engine.Engine, like fastctr.engine.operate.Operations."""
from fastctr import events
from fastctr.image import drivers as drivers_mod


class ImageOps:
    # ------------------------------------------------- export / commit
    def export(self, ref, out):
        """The container's merged file system as a tar, to binary file `out`."""
        from fastctr.image.layers import export_tree
        c = self.container(ref)
        driver = self.driver_for_container(c)
        chain = self._chain(self.store.image(c["image_id"]))
        with driver.mounted(c["id"], chain) as root:
            export_tree(root, out)

    def commit(self, ref, name=None, message="", author="", changes=(), pause=True):
        """A new image from the container's changes (fastctr.engine.commit)."""
        from fastctr.engine.commit import commit
        return commit(self, ref, name=name, message=message, author=author, changes=changes, pause=pause)

    # ----------------------------------------------------------- images
    def rmi(self, ref, force=False):
        """Docker's image delete: a name drops that name (and the repository's
        digests with its last tag), the image goes with its last name; an ID
        drops every name of one repository.  Returns Docker's
        "Untagged: busybox:latest" / "Deleted: sha256:..." lines."""
        from fastctr.engine import imagerm
        return imagerm.remove(self, ref, force)

    def delete_image(self, image, out):
        """Drop an image with no names left, and the layers only it used."""
        self.store.delete_image_row(image["id"])
        events.image(self.store.root, image["id"], "delete")
        out.append(f"Deleted: {image['id']}")
        keep = self.store.referenced_chain_ids()
        for chain_id in reversed(self._chain(image)):
            for name in drivers_mod.DRIVERS:
                if chain_id not in keep and self.store.layer_row(name, chain_id):
                    drivers_mod.DRIVERS[name](self.store).remove_layer(chain_id)
                    if f"Deleted: {chain_id}" not in out:
                        out.append(f"Deleted: {chain_id}")
        return out
