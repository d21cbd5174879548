/**
 * URLs for messages and logs with their credentials taken out: `https://user:pass@host/x` is
 * shown as `https://***@host/x`. Text that does not parse as a URL has anything between `//`
 * and an `@` before the next `/` replaced the same way, so a malformed URL leaks no password
 * either.
 */

/** `url` with any user name and password replaced by `***`. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === "" && parsed.password === "") return url;
    parsed.username = "***";
    parsed.password = "";
    return parsed.href;
  } catch {
    return url.replace(/\/\/[^/?#\s]*@/g, "//***@");
  }
}

/** Whether `url` carries a user name or password (`scheme://user:pass@host`). */
export function hasUserinfo(url: URL): boolean {
  return url.username !== "" || url.password !== "";
}
