// Secrets stay out of output: URLs are shown with their credentials replaced, wherever a URL is printed
// (banner, logs, error messages, `hive status`, metric labels).

/** Query parameters whose values are hidden (password, sslpassword, token, secret, key, credentials, ...). */
const SECRET_PARAM = /pass|pwd|token|secret|key|cred|auth|seed|signature|sig$/i;
const MASK = '***';

/**
 * `url` with its credentials hidden: `user:password@` (or a lone token before `@`) becomes `***@`, and the values of secret-looking query parameters (`password=`, `sslpassword=`, `token=`, ...)
 * become `***`. Works on any scheme, and on text that is not a valid URL (a regex pass), so it is safe to
 * use on anything a user typed where a URL was expected.
 */
export function redactUrl(url: string): string {
  // userinfo: everything between `scheme://` and the last `@` before the path
  let out = url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, `$1${MASK}@`);
  out = out.replace(/([?&;])([^=&;#]+)=([^&;#]*)/g, (m, sep: string, name: string) => (SECRET_PARAM.test(decodeSafe(name)) ? `${sep}${name}=${MASK}` : m));
  return out;
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
