"""The engine: Tensor, the tape (nodes, grad mode, the recorder), Op + the registry + the one call path, the two
sweeps, and the notation a tape prints in. It knows no op by name; the ops layer (matdiff/ops) registers them."""
