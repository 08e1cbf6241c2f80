"""Teaching: the live graph as DOT (graphviz.py), the backward stepper (stepper.py, stepper_page.py), ``md.draw``
above both (draw.py), the tutorials' helpers (tutorial.py) and the exercises (exercises/)."""
