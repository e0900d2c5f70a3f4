// customer-consent over HTTP: staff and services record grants and
// withdrawals; a service mints a one-click unsubscribe link; anyone holding
// the link withdraws what it names, with the anon key or with no credential
// at all (RFC 8058's POST from a mail client), once however often clicked;
// forged, swapped or truncated links are 401.
import { assert, assertEquals } from "./assert.ts";
import { jsonHeaders, send } from "./hardening/common.ts";
import {
  adminSql,
  type Caller,
  PUBLISHABLE_KEY,
  type Server,
  type Sql,
  startStage,
} from "./helpers.ts";

let server: Server;
let sql: Sql;
let restaurantId: string;
let otherRestaurantId: string;
let tokens: Record<Caller, string>;

Deno.test.beforeAll(async () => {
  ({ server, restaurantId, otherRestaurantId, tokens } = await startStage());
});
Deno.test.afterAll(async () => {
  await server?.stop();
});
Deno.test.beforeEach(() => {
  sql = adminSql();
});
Deno.test.afterEach(() => sql.end({ timeout: 1 }));

// deno-lint-ignore no-explicit-any
type Body = Record<string, any>;

async function call(fn: string, body: unknown, headers: Record<string, string>) {
  const answer = await send(server.url, fn, JSON.stringify(body), headers);
  return { status: answer.status, body: answer.body as Body };
}
const as = (who: keyof typeof tokens) => jsonHeaders(tokens[who]);

async function optedInGuest(tag: string) {
  const r = await call("customers-upsert", {
    restaurantId,
    email: `${tag}@example.com`,
    phone: "+44 7912 " + String(Math.floor(Math.random() * 1e6)).padStart(6, "0"),
    marketingOptIn: true,
    consent: [{ channel: "sms", granted: true, wording: "Texts about our events." }],
  }, as("service"));
  assertEquals(r.status, 200, JSON.stringify(r.body));
  assertEquals([r.body.consent.email.state, r.body.consent.sms.state], ["granted", "granted"]);
  return r.body.customer as { id: string; email: string; phone: string };
}

/** A one-click unsubscribe link for a guest's email channel, minted by a service. */
function mintLink(customerId: string) {
  return call("customer-consent", {
    restaurantId,
    customerId,
    channel: "email",
    mintToken: true,
  }, as("service"));
}

Deno.test("staff withdraw and grant by contact; another restaurant's staff may not", async () => {
  const g = await optedInGuest(`staff.${crypto.randomUUID().slice(0, 8)}`);
  const off = await call("customer-consent", {
    restaurantId,
    email: g.email.toUpperCase(),
    channel: "email",
    granted: false,
  }, as("staff"));
  assertEquals(off.status, 200, JSON.stringify(off.body));
  assertEquals([off.body.consent.email.state, off.body.consent.email.source], [
    "withdrawn",
    "staff",
  ]);
  assertEquals([off.body.customer.marketingOptIn, off.body.recorded], [false, true]);
  const smsOff = await call("customer-consent", {
    restaurantId,
    phone: "0" + g.phone.slice(3),
    channel: "sms",
    granted: false,
  }, as("staff"));
  assertEquals(smsOff.body.consent.sms.state, "withdrawn");
  const foreign = await call("customer-consent", {
    restaurantId,
    customerId: g.id,
    channel: "email",
    granted: true,
  }, as("stranger"));
  assertEquals(foreign.status, 403);
  const bad = await call("customer-consent", {
    restaurantId,
    customerId: g.id,
    channel: "fax",
    granted: "yes",
  }, as("staff"));
  assertEquals([bad.status, bad.body.error.code], [400, "invalid_request"]);
});

Deno.test("one-click unsubscribe: minted by a service, used with the anon key or with no credential, idempotent", async () => {
  const g = await optedInGuest(`link.${crypto.randomUUID().slice(0, 8)}`);
  const mint = { restaurantId, customerId: g.id, channel: "email", mintToken: true };
  const refused = await call("customer-consent", mint, as("staff"));
  assertEquals(refused.status, 403);
  const minted = await call("customer-consent", mint, as("service"));
  assertEquals(minted.status, 200);
  const { token, url } = minted.body as { token: string; url: string };
  assert(url.endsWith(`/functions/v1/customer-consent?token=${token}`));

  const withAnonKey = await call("customer-consent", { token }, {
    "content-type": "application/json",
    apikey: PUBLISHABLE_KEY,
  });
  assertEquals(withAnonKey.status, 200, JSON.stringify(withAnonKey.body));
  assertEquals([withAnonKey.body.recorded, withAnonKey.body.consent.email.state], [
    true,
    "withdrawn",
  ]);
  assertEquals(withAnonKey.body.consent.email.source, "unsubscribe_link");
  assertEquals(withAnonKey.body.consent.sms.state, "granted", "only the channel it names");

  // What Gmail sends for List-Unsubscribe-Post: a form POST to the URL, no credential.
  const oneClick = await fetch(`${server.url}/functions/v1/customer-consent?token=${token}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "List-Unsubscribe=One-Click",
  });
  const clicked = await oneClick.json();
  assertEquals([oneClick.status, clicked.recorded], [200, false], "a repeated click adds nothing");
  const [{ n }] = await sql`
    select count(*)::int as n from public.consent_events
    where customer_id = ${g.id} and source = 'unsubscribe_link'`;
  assertEquals(n, 1);
});

Deno.test("in a browser, opening the link changes nothing and asks to confirm; the click unsubscribes", async () => {
  const g = await optedInGuest(`page.${crypto.randomUUID().slice(0, 8)}`);
  const minted = await mintLink(g.id);
  const link = minted.body.url.replace(/^.*\/functions\/v1\//, `${server.url}/functions/v1/`);
  const browser = { accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8" };
  const withdrawals = async () => {
    const [{ n }] = await sql`
      select count(*)::int as n from public.consent_events
      where customer_id = ${g.id} and action = 'withdraw'`;
    return n;
  };

  // A scanner or a person opening the link: a page, nothing recorded.
  const opened = await fetch(link, { headers: browser });
  const confirm = await opened.text();
  assertEquals(opened.status, 200);
  assert(opened.headers.get("content-type")?.startsWith("text/html"));
  assert(confirm.includes('<form method="post" action="">'), confirm);
  assert(!confirm.includes(g.id) && !confirm.includes("@"), "no personal data on the page");
  assertEquals(await withdrawals(), 0);

  // The click: the browser posts the form to the same URL and gets a page back.
  const clicked = await fetch(link, {
    method: "POST",
    headers: { ...browser, "content-type": "application/x-www-form-urlencoded" },
    body: "List-Unsubscribe=One-Click",
  });
  assertEquals([clicked.status, (await clicked.text()).includes("You are unsubscribed")], [
    200,
    true,
  ]);
  assertEquals(await withdrawals(), 1);

  // A tampered link: an error page on opening, and on posting.
  const tampered = link.slice(0, -20) + (link.at(-20) === "A" ? "B" : "A") + link.slice(-19);
  const bad = await fetch(tampered, { headers: browser });
  assertEquals([bad.status, (await bad.text()).includes("not valid")], [401, true]);
  const badPost = await fetch(tampered, { method: "POST", headers: browser });
  assertEquals([badPost.status, (await badPost.text()).includes("not valid")], [401, true]);
  // Without a token, GET is still refused as before.
  const bare = await fetch(`${server.url}/functions/v1/customer-consent`, { headers: browser });
  assertEquals([bare.status, (await bare.json()).error.code], [405, "method_not_allowed"]);
  assertEquals(await withdrawals(), 1);
});

Deno.test("forged, swapped, foreign, truncated or tampered links are 401 and change nothing", async () => {
  const g = await optedInGuest(`forge.${crypto.randomUUID().slice(0, 8)}`);
  const other = await optedInGuest(`victim.${crypto.randomUUID().slice(0, 8)}`);
  const minted = await mintLink(g.id);
  const token: string = minted.body.token;
  const [v, r, , ch, mac] = token.split(".");
  const forged = [
    [v, r, other.id, ch, mac].join("."),
    [v, otherRestaurantId, g.id, ch, mac].join("."),
    [v, r, g.id, "sms", mac].join("."),
    token.slice(0, -3),
    // A character in the middle of the MAC (the last one has spare bits).
    token.slice(0, -20) + (token.at(-20) === "A" ? "B" : "A") + token.slice(-19),
  ];
  for (const t of forged) {
    const answer = await fetch(
      `${server.url}/functions/v1/customer-consent?token=${encodeURIComponent(t)}`,
      {
        method: "POST",
      },
    );
    const body = await answer.json();
    assertEquals([answer.status, body.error.code], [401, "unauthorized"], t);
  }
  const [{ n }] = await sql`
    select count(*)::int as n from public.consent_events
    where customer_id in (${g.id}, ${other.id}) and action = 'withdraw'`;
  assertEquals(n, 0);
});

Deno.test("a link for an erased guest is customer_not_found, as elsewhere", async () => {
  const g = await optedInGuest(`gone.${crypto.randomUUID().slice(0, 8)}`);
  const minted = await mintLink(g.id);
  const erased = await call("customer-erase", { restaurantId, customerId: g.id }, as("service"));
  assertEquals(erased.status, 200);
  const answer = await call("customer-consent", { token: minted.body.token }, {
    "content-type": "application/json",
    apikey: PUBLISHABLE_KEY,
  });
  assertEquals([answer.status, answer.body.error.code], [404, "customer_not_found"]);
});
