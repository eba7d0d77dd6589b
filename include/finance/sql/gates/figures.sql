-- What a gate measured (its figures, each an expression AS its name) on the rows its check read.
SELECT {columns} FROM {table}{where}
