/**
 * HTTP Digest answers checked against the RFCs' own worked examples (not computed by the code
 * under test): RFC 7616 3.9.1 (MD5 and SHA-256) and RFC 2617 3.5.
 */
import { describe, expect, it } from 'vitest';
import { basicAuthorization, digestAuthorization, parseDigestChallenge } from './http-auth.js';

// RFC 7616, section 3.9.1.
const RFC7616_CHALLENGE = (algorithm: string) =>
  `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=${algorithm}, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`;
const RFC7616_REQUEST = { username: 'Mufasa', password: 'Circle of Life', method: 'GET', uri: '/dir/index.html', cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ', nonceCount: 1 };
const RFC7616_MD5_RESPONSE = '8ca523f5e9506fed4657c9700eebdbec';
const RFC7616_SHA256_RESPONSE = '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1';

// RFC 2617, section 3.5.
const RFC2617_CHALLENGE = 'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"';
const RFC2617_RESPONSE = '6629fae49393a05397450978507c4ef1';

describe('HTTP Digest', () => {
  it('answers the RFC 7616 examples (MD5 and SHA-256)', () => {
    const md5 = parseDigestChallenge(RFC7616_CHALLENGE('MD5'));
    expect(md5).toEqual({ realm: 'http-auth@example.org', nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', opaque: 'FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS', algorithm: 'MD5', qop: 'auth' });
    expect(digestAuthorization(md5!, RFC7616_REQUEST)).toBe(
      'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm=MD5, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", ' +
        `nc=00000001, cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="${RFC7616_MD5_RESPONSE}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"`,
    );
    expect(digestAuthorization(parseDigestChallenge(RFC7616_CHALLENGE('SHA-256'))!, RFC7616_REQUEST)).toContain(`response="${RFC7616_SHA256_RESPONSE}"`);
  });

  it('answers the RFC 2617 example, with the challenge among others', () => {
    const challenge = parseDigestChallenge(`Basic realm="x", ${RFC2617_CHALLENGE}`);
    expect(digestAuthorization(challenge!, { username: 'Mufasa', password: 'Circle Of Life', method: 'GET', uri: '/dir/index.html', cnonce: '0a4f113b', nonceCount: 1 })).toContain(`response="${RFC2617_RESPONSE}"`);
  });

  it('answers only what it can: no Digest, an unknown algorithm or only auth-int is no challenge', () => {
    expect(parseDigestChallenge('Basic realm="camera"')).toBeNull();
    expect(parseDigestChallenge(undefined)).toBeNull();
    expect(parseDigestChallenge('Digest realm="r", nonce="n", algorithm=SHA-512-256')).toBeNull();
    expect(parseDigestChallenge('Digest realm="r", nonce="n", qop="auth-int"')).toBeNull();
    expect(parseDigestChallenge('Digest realm="r", nonce="n"')).toMatchObject({ qop: null, algorithm: 'MD5' });
    expect(basicAuthorization('Aladdin', 'open sesame')).toBe('Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==');
  });
});
