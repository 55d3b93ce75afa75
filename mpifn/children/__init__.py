"""One builder per child of an MPIJob; `build_children` asks each of them."""
