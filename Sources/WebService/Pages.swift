/// The pages bc-serve sends, kept in Resources/ and embedded in the binary, so that installed and bundled tools
/// need no resource folder beside them.
enum Pages {
    /// The prediction page: everything inline (no CDN, fonts or scripts from elsewhere). Files go to `/api/predict`
    /// in small batches; thumbnails are the user's own files shown through blob: URLs; the threshold, sorting,
    /// patient summary and CSV are computed in the page, so moving the slider needs no request.
    static let index = String(decoding: PackageResources.index_html, as: UTF8.self)

    /// Asks for the access token once and posts it to `/sign-in`, which keeps it in a session cookie.
    static let signIn = String(decoding: PackageResources.sign_in_html, as: UTF8.self)
}
