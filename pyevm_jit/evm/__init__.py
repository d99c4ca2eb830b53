"""The py-evm glue: the computation that runs native code (`computation`), `jit_vm` (`vm`), whole
chain configurations (`chain`) and the code-hash cache (`codehash`)."""
