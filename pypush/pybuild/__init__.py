"""Building an image from a Python project (``pypush build``): the base's Python is read from its layers
(:mod:`.target`), the distributions come from a lock or a resolve (:mod:`.lock`), wheels from a cache
(:mod:`.wheels`), are installed into layer trees as an installer would (:mod:`.install`), described by an
SBOM (:mod:`.sbom`) and handed to :mod:`pypush.assemble` which builds, compresses and pushes."""
