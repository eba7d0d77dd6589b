DROP TABLE {tables}
