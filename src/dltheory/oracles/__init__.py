"""Independent reference solutions (convex programs, closed forms) that experiments are checked against."""
