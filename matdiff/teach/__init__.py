"""Teaching: drawings of the live graph, the backward stepper, the tutorials' helpers and the exercises."""
