// emulator_node_client.js - Google's official Node.js Firestore client against
// firestore-emulator (REST transport), printing TAP. Run by test_emulator_node_client.sh
// with NODE_PATH pointing at an installed @google-cloud/firestore and
// FIRESTORE_EMULATOR_HOST at the emulator.
const { Firestore, FieldValue, Timestamp } = require('@google-cloud/firestore');
const { OAuth2Client } = require('google-auth-library');

let n = 0, failed = 0;
function ok(cond, name, detail) {
  n++;
  if (cond) console.log(`ok ${n} - ${name}`);
  else { failed++; console.log(`not ok ${n} - ${name}`); if (detail !== undefined) console.log(`# ${JSON.stringify(detail)}`); }
}

async function admin(method, path, body) {
  const res = await fetch(`http://${process.env.FIRESTORE_EMULATOR_HOST}${path}`, {
    method, body: body ? JSON.stringify(body) : undefined, headers: { 'Content-Type': 'application/json' },
  });
  return res.json();
}

(async () => {
  // The REST transport asks google-auth-library for credentials even with the
  // emulator; a client holding the emulator's admin token needs no network.
  const auth = new OAuth2Client();
  auth.setCredentials({ access_token: 'owner' });
  const project = `node-${process.pid}`;
  const db = new Firestore({ projectId: project, preferRest: true, authClient: auth });
  const members = db.collection('members');
  const ref = members.doc('m1');

  await ref.set({ name: 'Test', age: 42, tags: ['a'], nested: { x: 1.5, deep: { y: true } },
                  when: Timestamp.fromMillis(Date.UTC(2024, 0, 2, 3, 4, 5, 123)), nothing: null });
  let snap = await ref.get();
  ok(snap.exists && snap.get('age') === 42 && snap.get('nested.deep.y') === true && snap.get('nothing') === null,
     'set then get round-trips integers, maps, booleans and null', snap.data());
  ok(snap.get('when').toMillis() === Date.UTC(2024, 0, 2, 3, 4, 5, 123), 'timestamps round-trip with milliseconds');
  ok(snap.createTime && snap.updateTime && snap.createTime.isEqual(snap.updateTime), 'createTime equals updateTime on creation');

  await ref.update({ age: FieldValue.increment(1), tags: FieldValue.arrayUnion('b', 'a'), at: FieldValue.serverTimestamp(),
                     'nested.x': FieldValue.delete() });
  snap = await ref.get();
  ok(snap.get('age') === 43, 'increment transform', snap.get('age'));
  ok(JSON.stringify(snap.get('tags')) === '["a","b"]', 'arrayUnion adds only missing elements', snap.get('tags'));
  ok(snap.get('at') instanceof Timestamp, 'serverTimestamp sets a timestamp');
  ok(snap.get('nested.x') === undefined && snap.get('nested.deep.y') === true, 'update with a mask deletes one nested field only');
  await ref.update({ tags: FieldValue.arrayRemove('a'), age: FieldValue.increment(0.5) });
  snap = await ref.get();
  ok(JSON.stringify(snap.get('tags')) === '["b"]' && snap.get('age') === 43.5, 'arrayRemove, and increment by a double', snap.data());

  await ref.set({ extra: 'kept' }, { merge: true });
  snap = await ref.get();
  ok(snap.get('extra') === 'kept' && snap.get('age') === 43.5, 'set with merge keeps other fields');

  try { await ref.create({ a: 1 }); ok(false, 'create of an existing document fails'); }
  catch (e) { ok(e.code === 6 || e.code === 409 || /ALREADY_EXISTS|already exists/i.test(e.message), 'create of an existing document fails with ALREADY_EXISTS', e.message); }
  try { await members.doc('missing').update({ a: 1 }); ok(false, 'update of a missing document fails'); }
  catch (e) { ok(e.code === 5 || e.code === 404 || /NOT_FOUND|No document to update/i.test(e.message), 'update of a missing document fails with NOT_FOUND', e.message); }
  try { await ref.update({ a: 1 }, { lastUpdateTime: Timestamp.fromMillis(1000) }); ok(false, 'stale lastUpdateTime fails'); }
  catch (e) { ok(e.code === 9 || e.code === 400 || /FAILED_PRECONDITION|does not match/i.test(e.message), 'update with a stale lastUpdateTime fails with FAILED_PRECONDITION', e.message); }

  const batch = db.batch();
  for (let i = 0; i < 5; i++) batch.set(members.doc(`b${i}`), { i, even: i % 2 === 0 });
  await batch.commit();
  const q = await members.where('even', '==', true).orderBy('i', 'desc').get();
  ok(q.size === 3 && q.docs[0].id === 'b4' && q.docs[2].id === 'b0', 'query: equality filter with orderBy desc', q.docs.map(d => d.id));
  const r = await members.where('i', '>=', 1).where('i', '<', 3).get();
  ok(r.size === 2 && r.docs[0].id === 'b1', 'query: range filter', r.docs.map(d => d.id));
  const lim = await members.orderBy('i').offset(1).limit(2).get();
  ok(lim.size === 2 && lim.docs[0].id === 'b1', 'query: offset and limit', lim.docs.map(d => d.id));
  const inq = await members.where('i', 'in', [0, 4, 9]).get();
  ok(inq.size === 2, 'query: IN', inq.docs.map(d => d.id));
  const after = await members.orderBy('i').startAfter(2).get();
  ok(after.size === 2 && after.docs[0].id === 'b3', 'query: startAfter cursor', after.docs.map(d => d.id));

  const docs = await db.getAll(members.doc('b1'), members.doc('nope'));
  ok(docs[0].exists && !docs[1].exists, 'getAll (batchGet): found and missing');

  const bw = db.bulkWriter();
  for (let i = 0; i < 20; i++) bw.set(members.doc(`w${i}`), { i });
  await bw.close();
  const listed = await members.listDocuments();
  ok(listed.length === 1 + 5 + 20, 'bulkWriter (batchWrite) then listDocuments', listed.length);

  const counter = members.doc('counter');
  await counter.set({ n: 0 });
  await db.runTransaction(async t => { const s = await t.get(counter); t.update(counter, { n: s.get('n') + 1 }); });
  ok((await counter.get()).get('n') === 1, 'transaction: read then write');

  // Injected faults reach the client as Google errors; "count" fails only the next N.
  // (The client's own transaction retry is not exercised: over REST it sees HTTP codes
  // from gaxios and waits its maximum backoff, 60 s, after a 409.)
  await admin('POST', '/emulator/v1/faults', { status: 'UNAVAILABLE', count: 1, method: 'POST', pathPrefix: `/v1/projects/${project}/databases/(default)/documents:commit` });
  try { await counter.set({ n: 5 }); ok(false, 'injected UNAVAILABLE fails the write'); }
  catch (e) { ok(/UNAVAILABLE|503/.test(`${e.code} ${e.message}`), 'injected UNAVAILABLE reaches the client', `${e.code} ${e.message}`); }
  await counter.set({ n: 2 });
  ok((await counter.get()).get('n') === 2, 'the write after the injected failure succeeds');
  const faults = await admin('DELETE', '/emulator/v1/faults');
  ok(Array.isArray(faults.rules) && faults.rules.length === 0, 'fault rules cleared');

  // A change between a transaction's read and its commit aborts the commit (optimistic).
  try {
    await db.runTransaction(async t => {
      const s = await t.get(counter);
      await counter.update({ n: 100 });
      t.update(counter, { n: s.get('n') + 1 });
    }, { maxAttempts: 1 });
    ok(false, 'a changed read set aborts the commit');
  } catch (e) {
    ok(/ABORTED|409|contention/.test(`${e.code} ${e.message}`), 'a changed read set aborts the commit with ABORTED', `${e.code} ${e.message}`);
  }
  ok((await counter.get()).get('n') === 100, 'the aborted transaction wrote nothing');

  await ref.delete();
  ok(!(await ref.get()).exists, 'delete');

  const exp = await admin('GET', `/emulator/v1/projects/${project}/databases/(default)/documents`);
  ok(Array.isArray(exp.documents) && exp.documents.length === 5 + 20 + 1, 'export lists what the client wrote', exp.documents && exp.documents.length);
  await db.terminate();
  process.exit(failed ? 1 : 0);
})().catch(e => { console.log(`not ok ${n + 1} - unexpected error: ${e && e.message}`); process.exit(1); });
