-- The producer's role: it may replicate and read the published tables, nothing
-- else (no superuser, no writes, no DDL). Run as a superuser in the membership
-- database with psql -v producer_password=... ; safe to run again.
-- The publication is created below, by the administrator; the producer then runs with
-- postgres.publication_autocreate = "disabled". ("filtered" would need the producer
-- to own the tables, which this role deliberately does not.)
SELECT format('CREATE ROLE ekklesia_producer LOGIN REPLICATION PASSWORD %L', :'producer_password')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ekklesia_producer') \gexec
ALTER ROLE ekklesia_producer WITH LOGIN REPLICATION NOSUPERUSER NOCREATEDB NOCREATEROLE;
SELECT format('ALTER ROLE ekklesia_producer PASSWORD %L', :'producer_password') \gexec
SELECT format('GRANT CONNECT ON DATABASE %I TO ekklesia_producer', current_database()) \gexec
GRANT USAGE ON SCHEMA public TO ekklesia_producer;
GRANT SELECT ON
    membership_comrade, membership_contactinfo, membership_newcomradeaddress,
    membership_newlocaladdress, membership_newforeignaddress, membership_unionmembership,
    membership_comradetitle, billing_membershipfee, membership_union, membership_title,
    map_address, map_street, map_postalcode, map_municipality, map_country
TO ekklesia_producer;
-- The publication the producer streams: the member tables and the reference tables
-- the consumer's mapping looks values up in (unions, titles, addresses). Created and
-- kept to this list here by the administrator, so the producer needs no ownership of
-- the tables (it runs with postgres.publication_autocreate = "disabled").
SELECT 'CREATE PUBLICATION ekklesia_sync'
WHERE NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'ekklesia_sync') \gexec
ALTER PUBLICATION ekklesia_sync SET TABLE
    membership_comrade, membership_contactinfo, membership_newcomradeaddress,
    membership_newlocaladdress, membership_newforeignaddress, membership_unionmembership,
    membership_comradetitle, billing_membershipfee, membership_union, membership_title,
    map_address, map_street, map_postalcode, map_municipality, map_country;
