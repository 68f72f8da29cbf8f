"""specbayes: the application layer above ``deconv``, ``gp_property`` and ``datasets``.

It holds the ``specbayes`` command (:mod:`specbayes.cli`); the libraries never import it.
Importing it is cheap: JAX loads only when a command runs.
"""
