"""The cluster's container images, built from Debian packages on this machine (no registry needed).

Every image is a :class:`Recipe`, plain data: Debian packages, files to add, fixed-id accounts,
owned directories, a short shell script, and the image config (user, env, entrypoint, cmd). One
builder turns a recipe into an OCI image-layout tar under ``<cache>/images/``, named by a hash of
the recipe, so an image is rebuilt only when its recipe (or this builder's options) changes:

1. stage the recipe's files (C sources are compiled with ``gcc -static``);
2. make a one-layer rootfs tar: ``mmdebstrap --variant=minbase`` with the host's Debian mirrors,
   or, for an image without packages, just the staged files;
3. wrap the layer in an OCI layout (:mod:`.oci`).

Load an archive into a node's containerd with ``ctr -n k8s.io images import <archive>``; the image
is named from the archive's ``io.containerd.image.name`` annotation.

Run ``python3 -m localcluster.images [--only NAME] [--force]``.

- ``recipe``: the recipe data types and the builder options in their key;
- ``catalog``: the images (pause, nginx, zookeeper, mariadb, toolbox), their files in ``files/<image>/``;
- ``debian``: the rootfs from the host's Debian mirrors (mmdebstrap);
- ``builder``: staging, the cache, the build lock;
- ``oci``: the OCI image-layout archive writer.
"""
