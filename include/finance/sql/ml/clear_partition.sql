TRUNCATE {partition}
