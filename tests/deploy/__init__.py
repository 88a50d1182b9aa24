"""The reference deployment brought up on loopback, and the faults it survives."""
