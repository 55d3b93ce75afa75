"""mpifn: an MPI operator whose controller is three serverless functions."""
