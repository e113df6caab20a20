-- 0002: the member and the tables around it, with Django's table and column names
-- (membership_comrade and its contact info, addresses through Django's multi-table
-- inheritance, union memberships, titles) and the billing app's yearly fees.
-- Every table has a primary key: logical replication needs one to identify rows.

CREATE TABLE membership_comrade (
    id                  serial PRIMARY KEY,
    name                varchar(250) NOT NULL,
    ssn                 varchar(10)  NOT NULL UNIQUE,        -- kennitala, 10 digits
    birthday            date,
    date_joined         timestamp    NOT NULL DEFAULT now(),
    reachable           boolean      NOT NULL DEFAULT true,
    groupable           boolean      NOT NULL DEFAULT true,
    housing_situation   integer,     -- 0 unknown 1 owner 2 rental 3 cooperative 4 family 5 other 6 homeless
    gender              integer,     -- 0 unknown 1 male 2 female 3 other
    deleted_at          timestamptz, -- soft delete: null means active
    firebase_uid        varchar(128),
    email_marketing             boolean NOT NULL DEFAULT false,
    email_marketing_updated_at  timestamptz,
    sms_marketing               boolean NOT NULL DEFAULT false,
    sms_marketing_updated_at    timestamptz,
    CHECK (housing_situation BETWEEN 0 AND 6),
    CHECK (gender BETWEEN 0 AND 3)
);

CREATE TABLE membership_contactinfo (
    comrade_id      integer PRIMARY KEY REFERENCES membership_comrade (id) DEFERRABLE INITIALLY DEFERRED,
    phone           varchar(32)  NOT NULL DEFAULT '',
    email           varchar(124) NOT NULL DEFAULT '',
    facebook        varchar(255) NOT NULL DEFAULT '',
    foreign_phone   varchar(32)  NOT NULL DEFAULT ''
);

CREATE TABLE membership_newcomradeaddress (
    id          serial PRIMARY KEY,
    country_id  integer NOT NULL REFERENCES map_country (id),
    current     boolean NOT NULL DEFAULT true,
    moved_in    date,
    moved_out   date
);

CREATE TABLE membership_newlocaladdress (
    newcomradeaddress_ptr_id integer PRIMARY KEY
        REFERENCES membership_newcomradeaddress (id) DEFERRABLE INITIALLY DEFERRED,
    comrade_id  integer NOT NULL REFERENCES membership_comrade (id) DEFERRABLE INITIALLY DEFERRED,
    address_id  integer REFERENCES map_address (id),
    unlocated   boolean NOT NULL DEFAULT false
);
CREATE INDEX membership_newlocaladdress_comrade_id ON membership_newlocaladdress (comrade_id);

CREATE TABLE membership_newforeignaddress (
    newcomradeaddress_ptr_id integer PRIMARY KEY
        REFERENCES membership_newcomradeaddress (id) DEFERRABLE INITIALLY DEFERRED,
    comrade_id   integer NOT NULL REFERENCES membership_comrade (id) DEFERRABLE INITIALLY DEFERRED,
    address      varchar(255) NOT NULL,
    postal_code  varchar(20)  NOT NULL DEFAULT '',
    municipality varchar(100) NOT NULL DEFAULT ''
);
CREATE INDEX membership_newforeignaddress_comrade_id ON membership_newforeignaddress (comrade_id);

CREATE TABLE membership_unionmembership (
    id          serial PRIMARY KEY,
    comrade_id  integer NOT NULL REFERENCES membership_comrade (id) DEFERRABLE INITIALLY DEFERRED,
    union_id    integer NOT NULL REFERENCES membership_union (id),
    UNIQUE (comrade_id, union_id)
);

CREATE TABLE membership_comradetitle (
    id          serial PRIMARY KEY,
    comrade_id  integer NOT NULL REFERENCES membership_comrade (id) DEFERRABLE INITIALLY DEFERRED,
    title_id    integer NOT NULL REFERENCES membership_title (id),
    UNIQUE (comrade_id, title_id)
);

CREATE TABLE billing_membershipfee (
    id          serial PRIMARY KEY,
    comrade_id  integer NOT NULL REFERENCES membership_comrade (id) DEFERRABLE INITIALLY DEFERRED,
    year        integer NOT NULL,
    date_paid   date,
    UNIQUE (comrade_id, year)
);
