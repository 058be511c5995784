-- The floor: one single-row insert of a jsonb payload.
INSERT INTO bench_floor (payload) VALUES ('{"type":"organizationMembership.updated"}'::jsonb);
