-- Ignored and failed events change nothing: recorded with status $6.
applied AS (SELECT)
