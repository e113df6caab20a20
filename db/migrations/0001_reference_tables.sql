-- 0001: reference tables of the membership register, as Django names them
-- (app "map": countries, municipalities, postal codes, streets, addresses; app
-- "membership": unions and titles), with a little real-looking Icelandic data.

CREATE TABLE map_country (
    id          integer PRIMARY KEY,
    name        varchar(100) NOT NULL,
    code        varchar(2)   NOT NULL UNIQUE
);

CREATE TABLE map_municipality (
    id          serial PRIMARY KEY,
    name        varchar(100) NOT NULL UNIQUE
);

CREATE TABLE map_postalcode (
    id          serial PRIMARY KEY,
    code        integer NOT NULL UNIQUE,
    name        varchar(100) NOT NULL
);

CREATE TABLE map_street (
    id              serial PRIMARY KEY,
    name            varchar(100) NOT NULL,
    postal_code_id  integer NOT NULL REFERENCES map_postalcode (id),
    municipality_id integer NOT NULL REFERENCES map_municipality (id),
    UNIQUE (name, postal_code_id)
);

CREATE TABLE map_address (
    id          serial PRIMARY KEY,
    street_id   integer NOT NULL REFERENCES map_street (id),
    number      integer NOT NULL,
    letter      varchar(2) NOT NULL DEFAULT '',
    extra       varchar(50) NOT NULL DEFAULT ''
);
CREATE INDEX map_address_street_id ON map_address (street_id);

CREATE TABLE membership_union (
    id           serial PRIMARY KEY,
    name         varchar(200) NOT NULL,
    abbreviation varchar(20)  NOT NULL
);

CREATE TABLE membership_title (
    id          serial PRIMARY KEY,
    name        varchar(200) NOT NULL UNIQUE
);

INSERT INTO map_country (id, name, code) VALUES
    (109, 'Ísland', 'IS'), (59, 'Danmörk', 'DK'), (165, 'Noregur', 'NO'),
    (210, 'Svíþjóð', 'SE'), (82, 'Þýskaland', 'DE'), (177, 'Pólland', 'PL'),
    (74, 'Færeyjar', 'FO'), (235, 'Bretland', 'GB'), (236, 'Bandaríkin', 'US'),
    (72, 'Spánn', 'ES');

INSERT INTO map_municipality (id, name) VALUES
    (1, 'Reykjavíkurborg'), (2, 'Kópavogsbær'), (3, 'Hafnarfjarðarkaupstaður'),
    (4, 'Akureyrarbær'), (5, 'Garðabær'), (6, 'Mosfellsbær'), (7, 'Reykjanesbær'),
    (8, 'Árborg'), (9, 'Ísafjarðarbær'), (10, 'Fjarðabyggð');

INSERT INTO map_postalcode (id, code, name) VALUES
    (1, 101, 'Reykjavík'), (2, 105, 'Reykjavík'), (3, 107, 'Reykjavík'), (4, 108, 'Reykjavík'),
    (5, 200, 'Kópavogur'), (6, 220, 'Hafnarfjörður'), (7, 600, 'Akureyri'), (8, 210, 'Garðabær'),
    (9, 270, 'Mosfellsbær'), (10, 230, 'Reykjanesbær'), (11, 800, 'Selfoss'), (12, 400, 'Ísafjörður'),
    (13, 730, 'Reyðarfjörður');

INSERT INTO map_street (id, name, postal_code_id, municipality_id) VALUES
    (1, 'Túngata', 1, 1), (2, 'Laugavegur', 1, 1), (3, 'Hverfisgata', 1, 1), (4, 'Skólavörðustígur', 1, 1),
    (5, 'Bergþórugata', 1, 1), (6, 'Njálsgata', 1, 1), (7, 'Háteigsvegur', 2, 1), (8, 'Rauðarárstígur', 2, 1),
    (9, 'Hringbraut', 3, 1), (10, 'Ægisíða', 3, 1), (11, 'Grensásvegur', 4, 1), (12, 'Sogavegur', 4, 1),
    (13, 'Hamraborg', 5, 2), (14, 'Álfhólsvegur', 5, 2), (15, 'Strandgata', 6, 3), (16, 'Reykjavíkurvegur', 6, 3),
    (17, 'Hafnarstræti', 7, 4), (18, 'Þórunnarstræti', 7, 4), (19, 'Garðatorg', 8, 5), (20, 'Þverholt', 9, 6),
    (21, 'Hafnargata', 10, 7), (22, 'Austurvegur', 11, 8), (23, 'Aðalstræti', 12, 9), (24, 'Búðareyri', 13, 10);
SELECT setval('map_municipality_id_seq', 10), setval('map_postalcode_id_seq', 13), setval('map_street_id_seq', 24);

-- 24 streets x 80 numbers, a letter on every seventh house: 1,920 addresses.
INSERT INTO map_address (street_id, number, letter, extra)
SELECT s, n, CASE WHEN n % 7 = 0 THEN 'a' ELSE '' END, ''
FROM generate_series(1, 24) AS s, generate_series(1, 80) AS n
ORDER BY s, n;

INSERT INTO membership_union (id, name, abbreviation) VALUES
    (1, 'Verkalýðsfélag Reykjavíkur', 'VR'), (2, 'Efling stéttarfélag', 'Efling'),
    (3, 'Félag íslenskra hjúkrunarfræðinga', 'FÍH'), (4, 'Kennarasamband Íslands', 'KÍ'),
    (5, 'Sameyki', 'Sameyki'), (6, 'Rafiðnaðarsamband Íslands', 'RSÍ'),
    (7, 'Starfsgreinasamband Íslands', 'SGS'), (8, 'Sjómannafélag Íslands', 'SÍ');
SELECT setval('membership_union_id_seq', 8);

INSERT INTO membership_title (id, name) VALUES
    (1, 'Hjúkrunarfræðingur'), (2, 'Kennari'), (3, 'Rafvirki'), (4, 'Sjómaður'),
    (5, 'Leikskólakennari'), (6, 'Verkamaður'), (7, 'Öryrki'), (8, 'Nemi'),
    (9, 'Forritari'), (10, 'Ellilífeyrisþegi'), (11, 'Sjúkraliði'), (12, 'Bílstjóri');
SELECT setval('membership_title_id_seq', 12);
