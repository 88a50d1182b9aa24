"""Background work: batch jobs and e-mail delivery."""
