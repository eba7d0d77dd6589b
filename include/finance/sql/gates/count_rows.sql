SELECT COUNT(*) FROM {table}{where}
