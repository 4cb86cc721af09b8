// Starts Swagger UI on /openapi.json. A file of its own (not an inline script) so that
// /docs works under the Content-Security-Policy "script-src 'self'".
window.addEventListener('DOMContentLoaded', () => {
  window.ui = window.SwaggerUIBundle({
    url: '/openapi.json',
    dom_id: '#swagger-ui',
    deepLinking: true,
    layout: 'BaseLayout',
    presets: [window.SwaggerUIBundle.presets.apis],
  });
});
