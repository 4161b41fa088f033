"""The endpoint's persistent state: blobs on disk and metadata in SQLite (store), one server per data
directory (data_lock)."""
