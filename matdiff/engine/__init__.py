"""The engine: Tensor, the tape (nodes, grad mode and the recorder -- both per thread --, the deferred checks), Op +
the registry + the one call path, the two sweeps, the notation a tape prints in, and the one array formatter
(show.py). It knows no op by name; the ops layer (matdiff/ops) registers them, and autodiff binds Tensor's surface."""
