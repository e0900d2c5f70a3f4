// What a person sees who opens a one-click unsubscribe link in a browser.
// Opening it (GET) changes nothing, since mail scanners and link previews
// open links too: the page asks for one click, which POSTs the same URL, and
// the answer to that POST is a page again. The pages carry no personal data
// and reflect nothing from the request.
import type { HttpError } from "./http.ts";

/** How an endpoint that accepts token links (RFC 8058) answers a browser. */
export interface LinkPages {
  /** The page for a GET of the link, after checking the token (no database). */
  confirm(token: string): Response;
  /** The page answering a browser's POST of the link. */
  answered(error?: HttpError): Response;
}

const HEADERS = {
  "content-type": "text/html; charset=utf-8",
  // Nothing on these pages needs a script, a frame or another origin.
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
};

function page(status: number, title: string, body: string): Response {
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
button{font:inherit;padding:.5rem 1.25rem;cursor:pointer}</style>
</head>
<body>
<h1>${title}</h1>
${body}
</body>
</html>
`;
  return new Response(html, { status, headers: HEADERS });
}

/** True when a request comes from a browser page (a form post), not a mail client or an app. */
export function wantsHtml(req: Request): boolean {
  return (req.headers.get("accept") ?? "").includes("text/html");
}

/** The unsubscribe link's pages; `isGenuine` checks a token's signature. */
export function unsubscribePages(isGenuine: (token: string) => boolean): LinkPages {
  return {
    confirm(token) {
      if (!isGenuine(token)) {
        return page(
          401,
          "This link is not valid",
          "<p>Please use the latest link you received.</p>",
        );
      }
      // An empty action posts to this very URL, token included.
      return page(
        200,
        "Unsubscribe",
        `<p>Stop receiving these messages?</p>
<form method="post" action="">
<input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button>
</form>`,
      );
    },
    answered(error) {
      if (error === undefined) {
        return page(
          200,
          "You are unsubscribed",
          "<p>You will not receive these messages any more.</p>",
        );
      }
      if (error.status === 401) {
        return page(
          401,
          "This link is not valid",
          "<p>Please use the latest link you received.</p>",
        );
      }
      if (error.status === 404) {
        return page(
          404,
          "Nothing to unsubscribe",
          "<p>We hold no details for this link any more.</p>",
        );
      }
      return page(
        error.status,
        "Please try again",
        "<p>We could not record this just now. Please try again in a moment.</p>",
      );
    },
  };
}
