"""From files on disk to chunks ready to embed."""
